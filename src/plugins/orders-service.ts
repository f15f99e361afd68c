import type { Tracer } from '@opentelemetry/api'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { Config, VendorSettings } from '../config/config.js'
import { resilienceEvents, vendorCallHooks, type Metrics } from '../observability/metrics.js'
import { createOrdersService, type OrdersService } from '../orders/service.js'
import type { Clock } from '../orders/live/clock.js'
import { budgetLimits } from '../upstream/call-budget.js'
import { createVendorClient } from '../upstream/client.js'
import { observeVendorCalls } from '../upstream/observed-call.js'
import { createResilientVendor } from '../upstream/resilient.js'

declare module 'fastify' {
  interface FastifyInstance {
    orders: OrdersService
  }
}

export interface OrdersServicePluginOptions {
  config: Pick<Config, 'vendorTimeoutMs' | 'vendorMaxBodyBytes' | 'resilience' | 'redis'> & { vendor: VendorSettings }
  /** where to count vendor calls, retries, breaker states and cache results; none: not counted */
  metrics?: Metrics | undefined
  /** where the cache lookup, the waits for a vendor-call slot and the vendor calls are traced; none: not traced */
  tracer?: Tracer | undefined
  /** the cache's and the vendor call budget's time, and the budget's and retries' waits (default: the system's) */
  clock?: Clock | undefined
}

/**
 * The orders service over the vendor client stack (pool → observed calls → retry, call budget,
 * limiter and breaker), as `app.orders`; closing the app stops the resilience layer and closes
 * the pool it opened. The call budget is counted where the shared state says: in Redis for the
 * fleet, or in this process.
 */
const ordersService: FastifyPluginAsync<OrdersServicePluginOptions> = async (app, { config, metrics, tracer, clock }) => {
  // observed per attempt: every real call to the vendor is timed, logged, traced and its code counted
  const client = observeVendorCalls(createVendorClient({
    ...config.vendor,
    timeoutMs: config.vendorTimeoutMs,
    maxBodyBytes: config.vendorMaxBodyBytes
  }), metrics === undefined ? {} : vendorCallHooks(metrics), tracer && { tracer, server: serverOf(config.vendor.baseUrl) })
  const { vendorCallsPerSecond } = config.resilience
  const time = clock && { now: clock.now, sleep: (ms: number) => new Promise<void>((resolve) => { clock.setTimer(resolve, ms) }) }
  const vendor = createResilientVendor(client, {
    ...config.resilience,
    ...time,
    timeoutMs: config.vendorTimeoutMs,
    events: resilienceEvents(metrics),
    tracer,
    log: app.log.child({ component: 'vendor' }),
    callTokens: vendorCallsPerSecond === 0 ? undefined : app.sharedState.callTokens(budgetLimits(vendorCallsPerSecond))
  })
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
    tracer,
    // the Redis client's commands are spans (src/observability/tracing.ts): with Redis, a lookup's store reads are its children too
    storeTraced: config.redis !== null,
    now: time?.now
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
