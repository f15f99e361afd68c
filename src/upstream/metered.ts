import { AppError } from '../errors.js'
import type { VendorClient } from './client.js'

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

/** The same client, reporting every getOrder call to `hooks`. */
export function meterVendorClient (client: VendorClient, hooks: VendorCallHooks): VendorClient {
  return {
    async getOrder (orderId, machineNo, options) {
      hooks.onStart?.()
      const started = performance.now()
      try {
        const order = await client.getOrder(orderId, machineNo, options)
        hooks.onCall?.({ outcome: 'ok', vendorCode: 0, durationMs: performance.now() - started })
        return order
      } catch (error) {
        const appError = error instanceof AppError ? error : undefined
        hooks.onCall?.({ outcome: appError?.code ?? 'INTERNAL', vendorCode: appError?.vendorCode, durationMs: performance.now() - started })
        throw error
      }
    },
    close: () => client.close()
  }
}
