import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { UNMATCHED_ROUTE, type Metrics } from '../observability/metrics.js'

/**
 * Times every answer by route pattern (`/orders/:id`), never by raw URL, so random paths cannot
 * create series: anything no route matched is `unmatched`. Answers given before routing skip
 * this hook; http/framework-errors.ts times them.
 */
const requestMetrics: FastifyPluginAsync<{ metrics: Metrics }> = async (app, { metrics }) => {
  // a callback hook: an async one costs a promise on every answer
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.is404 ? UNMATCHED_ROUTE : request.routeOptions.url ?? UNMATCHED_ROUTE
    metrics.httpDuration.observe({ route, method: request.method, status: String(reply.statusCode) }, reply.elapsedTime / 1000)
    done()
  })
}

export const requestMetricsPlugin = fp(requestMetrics, { name: 'request-metrics' })
