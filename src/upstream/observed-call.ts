import { SpanKind, SpanStatusCode, type Attributes, type Span, type Tracer } from '@opentelemetry/api'
import { AppError, ERROR_KINDS, type ErrorCode } from '../errors/catalogue.js'
import { recordingSpanActive } from '../observability/tracing.js'
import type { CallOptions, VendorClient, VendorLog } from './client.js'
import type { VendorEndpoint } from './endpoint.js'

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

/** Where each call's span goes, and the vendor's address for it (OpenTelemetry's HTTP client conventions). */
export interface VendorCallTracing {
  tracer: Tracer
  server: { address: string, port: number }
}

const SILENT: VendorLog = { info () {}, warn () {}, error () {} }

/**
 * The same client, each call of any endpoint timed once and reported twice from that one
 * measurement: to `hooks` (the metrics) and as one log line on the call's `log`, at its error
 * kind's level; with `tracing`, also as a client span of its own. The endpoint says what the
 * line and the span name it by.
 */
export function observeVendorCalls (client: VendorClient, hooks: VendorCallHooks, tracing?: VendorCallTracing): VendorClient {
  return {
    async call<P, R> (endpoint: VendorEndpoint<P, R>, params: P, options: CallOptions = {}): Promise<R> {
      hooks.onStart?.()
      // traced only inside a sampled request
      const span = tracing === undefined || !recordingSpanActive() ? undefined : startCallSpan(tracing, endpoint.spanAttributes(params), options)
      let status: number | undefined
      const callOptions = span === undefined ? options : { ...options, onAnswer: (answered: number) => { status = answered } }
      const started = performance.now()
      try {
        const result = await client.call(endpoint, params, callOptions)
        report(hooks, options.log, () => endpoint.logFields(params), started, 'ok', 0, undefined)
        if (span !== undefined) endCallSpan(span, 'ok', 0, status)
        return result
      } catch (error) {
        const appError = error instanceof AppError ? error : undefined
        report(hooks, options.log, () => endpoint.logFields(params), started, appError?.code ?? 'INTERNAL', appError?.vendorCode, appError?.upstreamStatus)
        if (span !== undefined) endCallSpan(span, appError?.code ?? 'INTERNAL', appError?.vendorCode, appError?.upstreamStatus ?? status)
        throw error
      }
    },
    close: () => client.close()
  }
}

function report (
  hooks: VendorCallHooks, log: VendorLog = SILENT, about: () => Record<string, unknown>, started: number,
  outcome: 'ok' | ErrorCode, vendorCode: number | undefined, httpStatus: number | undefined
): void {
  const durationMs = performance.now() - started
  hooks.onCall?.({ outcome, vendorCode, durationMs })
  // one line per vendor call: a human must act now, worth a look, or business as usual (src/errors/catalogue.ts)
  const level = outcome === 'ok' ? 'info' : ERROR_KINDS[outcome].logLevel
  if (log.isLevelEnabled?.(level) === false) return
  log[level]({ vendor: { ...about(), durationMs: Math.round(durationMs * 10) / 10, httpStatus, vendorCode, outcome } }, 'vendor call')
}

/** A span per call to the vendor; no URL, header or payload in it: they carry the credentials and the signature. */
function startCallSpan ({ tracer, server }: VendorCallTracing, about: Attributes, options: CallOptions): Span {
  return tracer.startSpan('POST', {
    kind: SpanKind.CLIENT,
    attributes: {
      'http.request.method': 'POST',
      'server.address': server.address,
      'server.port': server.port,
      'http.request.resend_count': options.attempt ?? 0,
      ...about
    }
  })
}

function endCallSpan (span: Span, outcome: 'ok' | ErrorCode, vendorCode: number | undefined, httpStatus: number | undefined): void {
  if (httpStatus !== undefined) span.setAttribute('http.response.status_code', httpStatus)
  if (vendorCode !== undefined) span.setAttribute('vending.vendor.code', vendorCode)
  if (outcome !== 'ok') {
    span.setAttribute('error.type', outcome)
    span.setStatus({ code: SpanStatusCode.ERROR, message: outcome })
  }
  span.end()
}
