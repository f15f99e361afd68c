import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { pino, type Logger } from 'pino'
import type { Config, VendorSettings } from '../config/config.js'
import { serializerCompiler } from '../http/serializer.js'
import type { Metrics } from '../observability/metrics.js'
import { authPlugin } from '../plugins/auth.js'
import { connectionsPlugin } from '../plugins/connections.js'
import { corsPlugin } from '../plugins/cors.js'
import { drainingPlugin } from '../plugins/draining.js'
import { healthRoutes, isHealthProbe } from '../routes/health.js'
import { ordersServicePlugin } from '../plugins/orders-service.js'
import { pressurePlugin } from '../plugins/pressure.js'
import { problemServerOptions } from '../http/framework-errors.js'
import { problemsPlugin } from '../plugins/problems.js'
import { rateLimitPlugin } from '../plugins/rate-limit.js'
import { requestMetricsPlugin } from '../plugins/request-metrics.js'
import { securityHeadersPlugin } from '../plugins/security-headers.js'
import { sharedStatePlugin } from '../plugins/shared-state.js'
import { swaggerPlugin } from '../plugins/swagger.js'
import { demoRoutes } from '../routes/demo.js'
import { orderWatchersPlugin } from '../plugins/watchers.js'
import { callbacksRoute } from '../routes/callbacks.js'
import { tracingPlugin } from '../plugins/tracing.js'
import { TracedLogController } from '../observability/request-tracing.js'
import { swaggerUiPlugin } from '../plugins/swagger-ui.js'
import { orderEventsRoute } from '../routes/order-events.js'
import { ordersRoute } from '../routes/orders.js'
import { createStreamSlots } from '../routes/stream-slots.js'
import type { Tracing } from '../observability/tracing.js'
import type { Clock } from '../orders/live/clock.js'

/** What buildApp needs: the config with the vendor resolved (start() puts the simulator there in demo mode). */
export type AppConfig = Omit<Config, 'vendor'> & { vendor: VendorSettings }

export interface AppDeps {
  /** a pino logger; false for none (default: none) */
  logger?: Logger | false
  /** where to count requests and vendor calls (start() serves them on the metrics port); none: not counted */
  metrics?: Metrics
  /** traces, when start() turned them on (src/observability/tracing.ts); none: no spans. Trace ids reach the log lines of a logger made with createLogger's traceContext */
  tracing?: Tracing
  /** time and timers of the cache, the vendor call budget and the watchers, which tests move by hand (default: the system's) */
  clock?: Clock
}

/** Time for a client to send its request headers; longer is an attack or a broken client. */
const HEADERS_TIMEOUT_MS = 10_000
const DEADLINE_CHECK_INTERVAL_MS = 1000

/** fastify() with the server's limits, logging and what the problems plugin needs before any hook runs. */
function createServer (config: AppConfig, deps: AppDeps, logController: LogController) {
  return fastify({
    ...problemServerOptions(deps.metrics),
    loggerInstance: (deps.logger || pino({ enabled: false })) as FastifyBaseLogger,
    logController,
    routerOptions: { maxParamLength: 100 },
    // a GET-only API: nothing legitimate sends a body
    bodyLimit: 16 * 1024,
    // the whole request, headers and body, must arrive by then (a slow sender is cut off with 408)
    requestTimeout: config.limits.requestTimeoutMs,
    http: {
      // a connection that sends nothing, or sends its headers slowly, is closed with 408 after this
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, config.limits.requestTimeoutMs),
      // Node checks both deadlines on this beat (default 30 s, which would let a slow sender overstay them by that much)
      connectionsCheckingInterval: DEADLINE_CHECK_INTERVAL_MS,
      // Node answers an HTTP/1.1 request without Host with an empty 400; the problems plugin answers problem+json
      requireHostHeader: false
    },
    // longer than the 60 s idle timeout of common load balancers, so they close first
    keepAliveTimeout: 72_000,
    trustProxy: config.trustProxy
  }).withTypeProvider<ZodTypeProvider>()
}

/** The service as plugins and routes; never listens (server.ts does). */
export async function buildApp (config: AppConfig, deps: AppDeps = {}): Promise<FastifyInstance> {
  const logOptions = { requestIdLogLabel: 'requestId', disableRequestLogging: (request: { url: string }) => isHealthProbe(request.url) }
  // with Redis, the hooks (the rate limit's counters) and handlers make Redis spans, which find their parent only in the async context
  const traced = deps.tracing && { tracing: deps.tracing, logController: new TracedLogController(logOptions), ignorePath: isHealthProbe, asyncContext: config.redis !== null }
  const logController = traced?.logController ?? new LogController(logOptions)
  const app = createServer(config, deps, logController)
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)

  // Registered by hand, not autoloaded from folders: the order matters and reads here. Plugins come before
  // routes: a route keeps the error handler it was added with, and a parent's later hooks run after a scope's own.
  // Tracing first: its request span covers every other hook.
  if (traced !== undefined) await app.register(tracingPlugin, traced)
  await app.register(connectionsPlugin, { maxConnections: config.limits.maxConnections })
  await app.register(problemsPlugin)
  if (deps.metrics !== undefined) await app.register(requestMetricsPlugin, { metrics: deps.metrics })
  await app.register(securityHeadersPlugin)
  await app.register(corsPlugin, { origins: config.corsOrigins, mode: config.mode })
  await app.register(pressurePlugin, config.limits)
  await app.register(drainingPlugin)
  await app.register(swaggerPlugin, { keysEnforced: config.apiKeys.length > 0 })
  // before what shares state through it: the orders service's cache and coalescing, the rate limit
  await app.register(sharedStatePlugin, { config, metrics: deps.metrics, now: deps.clock?.now })
  await app.register(ordersServicePlugin, { config, metrics: deps.metrics, tracer: deps.tracing?.tracer, clock: deps.clock })
  // the pollers behind event streams and long polls, over app.orders; closed before the server, so streams end first
  await app.register(orderWatchersPlugin, {
    intervalMs: config.resilience.cache.freshMs,
    budgeted: config.resilience.vendorCallsPerSecond > 0,
    metrics: deps.metrics,
    clock: deps.clock
  })

  await app.register(healthRoutes)
  await app.register(swaggerUiPlugin)
  // the live page, on the embedded simulator only: it is an example, not part of a deployment
  if (config.mode === 'demo') await app.register(demoRoutes)
  // the vendor's delivery callback: no API key (the vendor has none), its own token and body limit
  if (config.callbackToken !== null) await app.register(callbacksRoute, { token: config.callbackToken, metrics: deps.metrics })
  // the API proper: keys (when configured) checked first, then the rate limit; docs and health stay open
  await app.register(async (api) => {
    await api.register(authPlugin, { keys: config.apiKeys })
    await api.register(rateLimitPlugin, { max: config.rateLimitMax, windowMs: config.rateLimitWindowMs })
    // one count for event streams and long polls: both hold a watcher and a socket; per client, the fleet's when Redis is shared
    const { maxStreams, maxPerClient } = config.events
    const slots = createStreamSlots({ maxStreams, maxPerClient, clientSlots: app.sharedState.clientSlots(maxPerClient) })
    await api.register(ordersRoute, { slots })
    await api.register(orderEventsRoute, { events: config.events, slots, metrics: deps.metrics })
  })
  return app
}
