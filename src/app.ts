import fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import { pino, type Logger } from 'pino'
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  validatorCompiler,
  type ZodTypeProvider
} from 'fastify-type-provider-zod'
import type { Config, VendorSettings } from './config.js'
import { apiKeyAuthPlugin } from './plugins/auth.js'
import { guardConnections } from './plugins/connections.js'
import { corsPlugin } from './plugins/cors.js'
import { answerClientErrors, answerFrameworkErrors, refuseMissingHost } from './http/framework-errors.js'
import { healthRoutes } from './plugins/health.js'
import { httpMetricsPlugin } from './plugins/request-metrics.js'
import { answerNoRoute } from './http/not-found.js'
import { registerPressure } from './plugins/pressure.js'
import { API_VERSION, finishOpenApiDocument } from './http/openapi-document.js'
import { documentSecurity, SECURITY_SCHEMES } from './http/openapi-security.js'
import { asAppError, sendProblem } from './http/problem.js'
import { rateLimitPlugin } from './plugins/rate-limit.js'
import { genRequestId, REQUEST_ID_HEADER } from './http/request-id.js'
import { DOCS_CSP, DOCS_PREFIX, securityHeadersPlugin } from './plugins/security-headers.js'
import { resilienceEvents, vendorCallHooks, type Metrics } from './metrics.js'
import { serializerCompiler } from './http/serializer.js'
import { requestLogger } from './logger.js'
import { ordersRoute } from './routes/orders.js'
import { createOrdersService, type OrdersService } from './orders/service.js'
import { createVendorClient, type VendorClient } from './upstream/client.js'
import { createResilientVendor } from './upstream/resilient.js'
import { meterVendorClient } from './upstream/metered.js'

declare module 'fastify' {
  interface FastifyInstance {
    orders: OrdersService
  }
}

/** What buildApp needs: the config with the vendor resolved (server.ts puts the simulator there in demo mode). */
export type AppConfig = Omit<Config, 'vendor'> & {
  vendor: VendorSettings
  /** true when vendor is the embedded simulator (default false) */
  demo?: boolean
}

export interface AppDeps {
  /** a pino logger; false for none (default: none) */
  logger?: Logger | false
  /** a vendor client to use instead of one built from config.vendor; its owner closes it */
  vendorClient?: VendorClient
  /** where to count requests and vendor calls (server.ts serves them on the metrics port); none: not counted */
  metrics?: Metrics
}

export const API_DESCRIPTION = [
  'Order status for mobile and web apps, from the vending-machine vendor\'s Open API.',
  '',
  'The service holds the merchant credentials, signs each call, normalizes the vendor\'s protobuf-style JSON (every field is always present) and maps vendor error codes to honest HTTP statuses.',
  'Errors are RFC 9457 `application/problem+json` with a stable `code`; a 400 lists every failing field in `errors`.',
  'Poll an order until `terminal` is true.',
  '',
  'When the deployment sets API keys, send yours as `Authorization: Bearer <key>`. Requests are rate limited per key (per client address when keys are off): the `x-ratelimit-*` headers say how many are left, and a 429 says when to retry in `Retry-After`.'
].join('\n')

/** Time for a client to send its request headers; longer is an attack or a broken client. */
const HEADERS_TIMEOUT_MS = 10_000
const DEADLINE_CHECK_INTERVAL_MS = 1000

/** Composes plugins, routes and the error handler; never listens (server.ts does). */
export async function buildApp (config: AppConfig, deps: AppDeps = {}): Promise<FastifyInstance> {
  const app = fastify({
    loggerInstance: (deps.logger || pino({ enabled: false })) as FastifyBaseLogger,
    genReqId: genRequestId,
    childLoggerFactory: requestLogger,
    // health probes every few seconds would drown the request log
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: (request) => request.url.startsWith('/health/') }),
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
      // Node answers an HTTP/1.1 request without Host with an empty 400; refuseMissingHost answers problem+json
      requireHostHeader: false
    },
    // longer than the 60 s idle timeout of common load balancers, so they close first
    keepAliveTimeout: 72_000,
    trustProxy: config.trustProxy,
    frameworkErrors: answerFrameworkErrors(deps.metrics),
    clientErrorHandler: answerClientErrors(deps.metrics)
  }).withTypeProvider<ZodTypeProvider>()
  app.decorate('connections', guardConnections(app.server, config.limits.maxConnections, app.log))

  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)

  // metered per attempt: every real call to the vendor is timed and its code counted
  const client = meterVendorClient(deps.vendorClient ?? createVendorClient({
    ...config.vendor,
    timeoutMs: config.vendorTimeoutMs,
    maxBodyBytes: config.vendorMaxBodyBytes
  }), deps.metrics === undefined ? {} : vendorCallHooks(deps.metrics))
  const vendor = createResilientVendor(client, { ...config.resilience, timeoutMs: config.vendorTimeoutMs, events: resilienceEvents(deps.metrics) })
  app.addHook('onClose', async () => {
    vendor.shutdown()
    // whoever creates the pool closes it; an injected client belongs to whoever made it
    if (deps.vendorClient === undefined) await client.close()
  })
  app.decorate('orders', createOrdersService({ vendor, cache: config.resilience.cache, onServed: deps.metrics && ((outcome) => deps.metrics!.cacheEvents.inc({ result: outcome })) }))

  // a callback hook: an async one costs a promise and a microtask hop on every request
  app.addHook('onRequest', (request, reply, done) => { reply.header(REQUEST_ID_HEADER, request.id); done() })
  app.addHook('onRequest', refuseMissingHost)

  app.setErrorHandler((error, request, reply) => {
    const appError = asAppError(error as FastifyError, request)
    // vendor outcomes were logged by the vendor client, once per call; our own bugs are logged here
    if (appError.code === 'INTERNAL') request.log.error({ err: appError.cause ?? appError }, 'unexpected error')
    return sendProblem(reply, appError)
  })
  app.setNotFoundHandler(answerNoRoute)

  if (deps.metrics !== undefined) await app.register(httpMetricsPlugin, { metrics: deps.metrics })
  await app.register(securityHeadersPlugin)
  await app.register(corsPlugin, { origins: config.corsOrigins, demo: config.demo ?? false })

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Vending order status API', description: API_DESCRIPTION, version: API_VERSION },
      tags: [{ name: 'orders', description: 'Order and dispensing status' }],
      components: { securitySchemes: SECURITY_SCHEMES }
    },
    transform: jsonSchemaTransform,
    transformObject: (input) => documentSecurity(finishOpenApiDocument(jsonSchemaTransformObject(input)))
  })
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX, staticCSP: DOCS_CSP })

  await registerPressure(app, config.limits)
  await app.register(healthRoutes)
  // the API proper: keys (when configured) checked first, then the rate limit; docs and health stay open
  await app.register(async (api) => {
    await api.register(apiKeyAuthPlugin, { keys: config.apiKeys })
    await api.register(rateLimitPlugin, { max: config.rateLimitMax, windowMs: config.rateLimitWindowMs })
    await api.register(ordersRoute)
  })
  return app
}
