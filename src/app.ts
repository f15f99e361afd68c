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
import { AppError } from './errors.js'
import { healthRoutes } from './http/health.js'
import { finishOpenApiDocument } from './http/openapi-document.js'
import { asAppError, sendProblem } from './http/problem.js'
import { genRequestId, REQUEST_ID_HEADER } from './http/request-id.js'
import { serializerCompiler } from './http/serializer.js'
import { ordersRoute } from './orders/route.js'
import { createOrdersService, type OrdersService } from './orders/service.js'
import { createVendorClient, type VendorClient } from './vendor/client.js'

declare module 'fastify' {
  interface FastifyInstance {
    orders: OrdersService
  }
}

/** What buildApp needs: the config with the vendor resolved (server.ts puts the simulator there in demo mode). */
export type AppConfig = Omit<Config, 'vendor'> & { vendor: VendorSettings }

export interface AppDeps {
  /** a pino logger; false for none (default: none) */
  logger?: Logger | false
  /** a vendor client to use instead of one built from config.vendor; its owner closes it */
  vendorClient?: VendorClient
}

export const API_DESCRIPTION = [
  'Order status for mobile and web apps, from the vending-machine vendor\'s Open API.',
  '',
  'The service holds the merchant credentials, signs each call, normalizes the vendor\'s protobuf-style JSON (every field is always present) and maps vendor error codes to honest HTTP statuses.',
  'Errors are RFC 9457 `application/problem+json` with a stable `code`; a 400 lists every failing field in `errors`.',
  'Poll an order until `terminal` is true.'
].join('\n')

/** Composes plugins, routes and the error handler; never listens (server.ts does). */
export async function buildApp (config: AppConfig, deps: AppDeps = {}): Promise<FastifyInstance> {
  const app = fastify({
    loggerInstance: (deps.logger || pino({ enabled: false })) as FastifyBaseLogger,
    genReqId: genRequestId,
    // health probes every few seconds would drown the request log
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: (request) => request.url.startsWith('/health/') }),
    routerOptions: { maxParamLength: 100 }
  }).withTypeProvider<ZodTypeProvider>()

  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)

  const vendor = deps.vendorClient ?? createVendorClient({
    ...config.vendor,
    timeoutMs: config.vendorTimeoutMs,
    maxBodyBytes: config.vendorMaxBodyBytes
  })
  // whoever creates the pool closes it
  if (deps.vendorClient === undefined) app.addHook('onClose', async () => { await vendor.close() })
  app.decorate('orders', createOrdersService({ vendor }))

  // a callback hook: an async one costs a promise and a microtask hop on every request
  app.addHook('onRequest', (request, reply, done) => { reply.header(REQUEST_ID_HEADER, request.id); done() })

  app.setErrorHandler((error, request, reply) => {
    const appError = asAppError(error as FastifyError, request)
    // vendor outcomes were logged by the vendor client, once per call; our own bugs are logged here
    if (appError.code === 'INTERNAL') request.log.error({ err: appError.cause ?? appError }, 'unexpected error')
    return sendProblem(reply, appError)
  })
  app.setNotFoundHandler((request, reply) => {
    return sendProblem(reply, new AppError('NOT_FOUND', { detail: `No route for ${request.method} ${request.url.split('?')[0]}.` }))
  })

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Vending order status API', description: API_DESCRIPTION, version: '1.0.0' },
      tags: [{ name: 'orders', description: 'Order and dispensing status' }]
    },
    transform: jsonSchemaTransform,
    transformObject: (input) => finishOpenApiDocument(jsonSchemaTransformObject(input))
  })
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' })

  await app.register(healthRoutes)
  await app.register(ordersRoute)
  return app
}
