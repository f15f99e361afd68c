import type { Tracer } from '@opentelemetry/api'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { Config, VendorSettings } from '../config/config.js'
import { resilienceEvents, vendorCallHooks, type Metrics } from '../observability/metrics.js'
import { createOrdersService, type OrdersService } from '../orders/service.js'
import { createVendorClient } from '../upstream/client.js'
import { observeVendorCalls } from '../upstream/observed-call.js'
import { createResilientVendor } from '../upstream/resilient.js'

declare module 'fastify' {
  interface FastifyInstance {
    orders: OrdersService
  }
}

export interface OrdersServicePluginOptions {
  config: Pick<Config, 'vendorTimeoutMs' | 'vendorMaxBodyBytes' | 'resilience'> & { vendor: VendorSettings }
  /** where to count vendor calls, retries, breaker states and cache results; none: not counted */
  metrics?: Metrics | undefined
  /** where the cache lookup, the waits for a vendor-call slot and the vendor calls are traced; none: not traced */
  tracer?: Tracer | undefined
}

/**
 * The orders service over the vendor client stack (pool → observed calls → retry, limiter and breaker),
 * as `app.orders`; closing the app stops the resilience layer and closes the pool it opened.
 */
const ordersService: FastifyPluginAsync<OrdersServicePluginOptions> = async (app, { config, metrics, tracer }) => {
  // observed per attempt: every real call to the vendor is timed, logged, traced and its code counted
  const client = observeVendorCalls(createVendorClient({
    ...config.vendor,
    timeoutMs: config.vendorTimeoutMs,
    maxBodyBytes: config.vendorMaxBodyBytes
  }), metrics === undefined ? {} : vendorCallHooks(metrics), tracer && { tracer, server: serverOf(config.vendor.baseUrl) })
  const vendor = createResilientVendor(client, { ...config.resilience, timeoutMs: config.vendorTimeoutMs, events: resilienceEvents(metrics), tracer, log: app.log.child({ component: 'vendor' }) })
  app.addHook('onClose', async () => {
    vendor.shutdown()
    await client.close()
  })
  const orders = createOrdersService({
    vendor,
    cache: config.resilience.cache,
    store: app.sharedState.outcomeStore,
    coalescing: app.sharedState.coalescing,
    onServed: metrics && (({ result, tier }) => metrics.cacheEvents.inc({ result, tier })),
    tracer
  })
  // a delivery callback on any replica says the order changed: what is kept of it is no longer fresh
  app.sharedState.watchBus.onWake(orders.markChanged)
  app.decorate('orders', orders)
}

/** The vendor's host and port, as the vendor-call spans name them. */
function serverOf (baseUrl: string): { address: string, port: number } {
  const url = new URL(baseUrl)
  return { address: url.hostname, port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port) }
}

export const ordersServicePlugin = fp(ordersService, { name: 'orders-service', dependencies: ['shared-state'], decorators: { fastify: ['sharedState'] } })
