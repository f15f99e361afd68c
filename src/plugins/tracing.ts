import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify'
import fp from 'fastify-plugin'
import { setTraceContext } from '../observability/logger.js'
import { requestSpanStart, type TracedLogController } from '../observability/request-tracing.js'
import { parseTraceparent } from '../observability/sampling.js'
import type { Tracing } from '../observability/tracing.js'

// The request span, on the OpenTelemetry API, and its trace id in every log line of the request.
// Registered first, and only when tracing is on (src/observability/tracing.ts). Whether a request
// is traced is decided once, in its first hook, before anything is made for it: an unsampled
// request gets no span, no context and no attribute, and nothing runs for it after that hook but
// one property read before its handler.

export interface TracingPluginOptions {
  tracing: Tracing
  logController: TracedLogController
  /** no span for these paths (the health probes), whatever the sampler says */
  ignorePath?: (url: string) => boolean
}

/** A sampled request's span and the context its hooks and handler run in. */
interface RequestTrace {
  span: Span
  context: Context
  /** the error the request failed with, recorded on the span when the answer is a 5xx */
  error: Error | undefined
}

const kTrace = Symbol('request trace')
type Traced = FastifyRequest & { [kTrace]: RequestTrace | null }

const tracing: FastifyPluginAsync<TracingPluginOptions> = async (app, { tracing: { tracer, sample, holdContext }, logController, ignorePath = () => false }) => {
  // declared, so every request has the property from its constructor on (no shape change for the few traced)
  app.decorateRequest(kTrace, null)

  // the handler, and what it calls, runs in the request's context even when a body was read in between
  // (stream events lose the async context); an unsampled request's handler is called as it is
  app.addHook('onRoute', (route) => {
    if (ignorePath(route.url)) return
    const handler = route.handler as (this: unknown, request: FastifyRequest, reply: FastifyReply) => unknown
    route.handler = function tracedHandler (this: unknown, request: FastifyRequest, reply: FastifyReply) {
      const traced = (request as Traced)[kTrace]
      return traced === null ? handler.call(this, request, reply) : context.with(traced.context, handler, this, request, reply)
    } as RouteHandlerMethod
  })

  // a callback hook: an async one costs a promise on every request
  app.addHook('onRequest', (request, reply, done) => {
    const parent = parseTraceparent(request.headers.traceparent)
    if (ignorePath(request.url) || !sample(parent)) {
      // not traced here, but part of the caller's trace: its lines carry the caller's trace id (and no span id: there is no span of ours)
      if (parent !== undefined) setTraceContext(request.log, { trace_id: parent.traceId })
      logController.incomingRequestNow(request, reply)
      done()
      return
    }
    // the caller's trace context in full (tracestate, baggage) once the request is known to be traced; a request
    // starts from the root context, never from one an earlier request left behind
    const parentContext = parent === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, request.headers)
    const { name, attributes } = requestSpanStart(request)
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parentContext)
    const traced: RequestTrace = { span, context: trace.setSpan(parentContext, span), error: undefined }
    ;(request as Traced)[kTrace] = traced
    const { traceId, spanId } = span.spanContext()
    // on the request's own logger (reply.log is the same one), read only when a line is written: no child per request
    setTraceContext(request.log, { trace_id: traceId, span_id: spanId })
    // 'close' comes after the answer was sent, and also when the client went away first (a stream, a long poll)
    const release = holdContext()
    reply.raw.once('close', () => {
      endRequestSpan(traced, reply)
      release()
    })
    logController.incomingRequestNow(request, reply)
    // the other hooks (and what they call: Redis for the rate limit) run in the request's context
    context.with(traced.context, done)
  })

  // called only for a request that fails; its status is known only once the error handler has answered
  app.addHook('onError', (request, _reply, error, done) => {
    const traced = (request as Traced)[kTrace]
    if (traced !== null) traced.error = error
    done()
  })
}

function endRequestSpan ({ span, error }: RequestTrace, reply: FastifyReply): void {
  const response = reply.raw
  // a client that left before the answer began has no status to record
  if (response.headersSent) {
    span.setAttribute('http.response.status_code', response.statusCode)
    // the semantic conventions: a server span is an error for a 5xx only (a 4xx is the caller's)
    if (response.statusCode >= 500) {
      if (error !== undefined) span.recordException(error)
      span.setStatus({ code: SpanStatusCode.ERROR, ...(error === undefined ? {} : { message: error.message }) })
    }
  }
  span.end()
}

export const tracingPlugin = fp(tracing, { name: 'tracing' })
