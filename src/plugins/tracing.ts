import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { setTraceContext } from '../observability/logger.js'
import type { TracedLogController } from '../observability/request-tracing.js'
import type { Tracing } from '../observability/tracing.js'

// The request span of @fastify/otel (@see https://github.com/fastify/otel), its trace id in every
// log line of the request. Registered first, and only when tracing is on (src/observability/tracing.ts).

export interface TracingPluginOptions {
  tracing: Tracing
  logController: TracedLogController
}

const tracing: FastifyPluginAsync<TracingPluginOptions> = async (app, { tracing: { instrumentation }, logController }) => {
  // its onRequest hook starts the span (from the caller's traceparent when there is one) before any other hook runs
  await app.register(instrumentation.plugin())
  // a callback hook: an async one costs a promise on every request
  app.addHook('onRequest', (request, reply, done) => {
    const otel = request.opentelemetry()
    if (otel.span !== null && otel.span !== undefined) {
      const { traceId, spanId } = otel.span.spanContext()
      // on the request's own logger (reply.log is the same one), read only when a line is written: no child per request
      setTraceContext(request.log, { trace_id: traceId, span_id: spanId })
    }
    logController.incomingRequestNow(request, reply)
    done()
  })
}

export const tracingPlugin = fp(tracing, { name: 'tracing' })
