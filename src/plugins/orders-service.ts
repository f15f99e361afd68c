import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { Config, VendorSettings } from '../config.js'
import { resilienceEvents, vendorCallHooks, type Metrics } from '../metrics.js'
import { createOrdersService, type OrdersService } from '../orders/service.js'
import { createVendorClient, type VendorClient } from '../upstream/client.js'
import { meterVendorClient } from '../upstream/metered.js'
import { createResilientVendor } from '../upstream/resilient.js'

declare module 'fastify' {
  interface FastifyInstance {
    orders: OrdersService
  }
}

export interface OrdersServicePluginOptions {
  config: Pick<Config, 'vendorTimeoutMs' | 'vendorMaxBodyBytes' | 'resilience'> & { vendor: VendorSettings }
  /** a vendor client to use instead of one built from config.vendor; its owner closes it */
  vendorClient?: VendorClient | undefined
  /** where to count vendor calls, retries, breaker states and cache results; none: not counted */
  metrics?: Metrics | undefined
}

/**
 * The orders service over the vendor client stack (pool → meter → retry, limiter and breaker),
 * as `app.orders`; closing the app stops the resilience layer and closes the pool it opened.
 */
const ordersService: FastifyPluginAsync<OrdersServicePluginOptions> = async (app, { config, vendorClient, metrics }) => {
  // metered per attempt: every real call to the vendor is timed and its code counted
  const client = meterVendorClient(vendorClient ?? createVendorClient({
    ...config.vendor,
    timeoutMs: config.vendorTimeoutMs,
    maxBodyBytes: config.vendorMaxBodyBytes
  }), metrics === undefined ? {} : vendorCallHooks(metrics))
  const vendor = createResilientVendor(client, { ...config.resilience, timeoutMs: config.vendorTimeoutMs, events: resilienceEvents(metrics) })
  app.addHook('onClose', async () => {
    vendor.shutdown()
    // whoever creates the pool closes it; an injected client belongs to whoever made it
    if (vendorClient === undefined) await client.close()
  })
  app.decorate('orders', createOrdersService({ vendor, cache: config.resilience.cache, onServed: metrics && (({ result, tier }) => metrics.cacheEvents.inc({ result, tier })) }))
}

export const ordersServicePlugin = fp(ordersService, { name: 'orders-service' })
