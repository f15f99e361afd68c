import fastify, { type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'

/**
 * Prometheus' endpoint, on a server and port of its own (METRICS_PORT) so it is never exposed
 * with the API: only GET /metrics, no docs, no CORS. server.ts listens; tests use port 0.
 */
export function buildMetricsServer (registry: Registry): FastifyInstance {
  const server = fastify({ logger: false })
  server.get('/metrics', async (_request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
  return server
}
