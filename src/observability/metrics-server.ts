import fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'

/** Scrapers and the odd curl: a handful of connections, so a flood of them cannot take the process's descriptors. */
export const METRICS_MAX_CONNECTIONS = 16
/** Time for a connection to send its request (a scrape has no body, so headers and request alike), as the API's headers deadline. */
export const METRICS_REQUEST_TIMEOUT_MS = 10_000
/** An idle connection between scrapes is closed after this; a scraper reconnects cheaply. */
export const METRICS_KEEP_ALIVE_TIMEOUT_MS = 5000

export interface MetricsServerOptions {
  /** where a full server and a failed accept() are told (default: nowhere) */
  log?: Pick<Logger, 'warn'>
}

/**
 * Prometheus' endpoint, on a server and port of its own (METRICS_PORT) so it is never exposed
 * with the API: only GET /metrics, no docs, no CORS. server.ts listens; tests use port 0.
 * Bounded like the API: a few connections, short deadlines, and close() cuts every connection.
 */
export function buildMetricsServer (registry: Registry, options: MetricsServerOptions = {}): FastifyInstance {
  const server = fastify({
    logger: false,
    requestTimeout: METRICS_REQUEST_TIMEOUT_MS,
    http: {
      headersTimeout: METRICS_REQUEST_TIMEOUT_MS,
      // Node checks both deadlines on this beat (default 30 s)
      connectionsCheckingInterval: 1000
    },
    keepAliveTimeout: METRICS_KEEP_ALIVE_TIMEOUT_MS,
    // at shutdown a scrape is not worth waiting for: close() destroys every connection, half-sent ones too
    forceCloseConnections: true
  })
  // Node closes a connection over the cap as soon as it is accepted, so it holds its descriptor only for that moment
  server.server.maxConnections = METRICS_MAX_CONNECTIONS
  let full = false
  server.server.on('drop', () => {
    // once per episode: a flood would otherwise write a line per connection
    if (!full) options.log?.warn({ maxConnections: METRICS_MAX_CONNECTIONS }, 'metrics port full: dropping new connections')
    full = true
  })
  server.server.on('connection', () => { full = false })
  // listen() failures reach Fastify's listen(); a failed accept() (EMFILE) leaves the server listening
  server.server.on('error', (error: NodeJS.ErrnoException) => {
    if (error.syscall === 'accept') options.log?.warn({ err: error }, 'metrics: could not accept a connection; still serving')
  })

  server.get('/metrics', async (_request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
  return server
}
