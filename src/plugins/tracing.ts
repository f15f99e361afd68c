import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { requestTracingHooks, type RequestTracingOptions } from '../observability/request-tracing.js'

// The request span and its trace id in every log line of the request (src/observability/request-tracing.ts).
// Registered first, and only when tracing is on (src/observability/tracing.ts).

export type TracingPluginOptions = RequestTracingOptions

const tracing: FastifyPluginAsync<TracingPluginOptions> = async (app, options) => {
  const hooks = requestTracingHooks(options)
  // declared, so every request has the property from its constructor on (no shape change for the few traced)
  app.decorateRequest(hooks.property, null)
  if (hooks.onRoute !== undefined) app.addHook('onRoute', hooks.onRoute)
  app.addHook('onRequest', hooks.onRequest)
  app.addHook('onError', hooks.onError)
}

export const tracingPlugin = fp(tracing, { name: 'tracing' })
