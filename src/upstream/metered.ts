import { AppError, ERROR_KINDS, type ErrorCode } from '../errors.js'
import type { VendorClient, VendorLog } from './client.js'

export interface VendorCallEvent {
  /** `ok`, or the code of the error the call ended with */
  outcome: string
  /** the code in the vendor's envelope, when it answered with one (0 on success) */
  vendorCode?: number
  durationMs: number
}

/** What a client reports about its calls; no metrics library here, the caller decides what to do with it. */
export interface VendorCallHooks {
  /** a call starts: it is in flight until its onCall */
  onStart?: () => void
  onCall?: (event: VendorCallEvent) => void
}

const SILENT: VendorLog = { info () {}, warn () {}, error () {} }

/**
 * The same client, each getOrder call timed once and reported twice from that one measurement:
 * to `hooks` (the metrics) and as one log line on the call's `log`, at its error kind's level.
 */
export function meterVendorClient (client: VendorClient, hooks: VendorCallHooks): VendorClient {
  return {
    async getOrder (orderId, machineNo, options = {}) {
      hooks.onStart?.()
      const started = performance.now()
      try {
        const order = await client.getOrder(orderId, machineNo, options)
        report(hooks, options.log, orderId, started, 'ok', 0, undefined)
        return order
      } catch (error) {
        const appError = error instanceof AppError ? error : undefined
        report(hooks, options.log, orderId, started, appError?.code ?? 'INTERNAL', appError?.vendorCode, appError?.upstreamStatus)
        throw error
      }
    },
    close: () => client.close()
  }
}

function report (
  hooks: VendorCallHooks, log: VendorLog = SILENT, orderId: number, started: number,
  outcome: 'ok' | ErrorCode, vendorCode: number | undefined, httpStatus: number | undefined
): void {
  const durationMs = performance.now() - started
  hooks.onCall?.({ outcome, vendorCode, durationMs })
  // one line per vendor call: a human must act now, worth a look, or business as usual (src/errors.ts)
  const level = outcome === 'ok' ? 'info' : ERROR_KINDS[outcome].logLevel
  log[level]({ vendor: { orderId, durationMs: Math.round(durationMs * 10) / 10, httpStatus, vendorCode, outcome } }, 'vendor call')
}
