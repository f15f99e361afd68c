import { SpanStatusCode, trace, type Context, type Tracer } from '@opentelemetry/api'
import type { ResilienceConfig } from '../config/config.js'
import { parentContext, withinContext } from '../observability/trace-context.js'
import type { CallTicket } from '../upstream/call-budget.js'
import type { VendorLog } from '../upstream/client.js'
import { orderQuery } from '../upstream/endpoints/order-query.js'
import type { ResilientVendor } from '../upstream/resilient.js'
import { normalizeOrder } from './normalize.js'
import type { OutcomeStore } from './outcome-store.js'
import type { Served } from './outcome.js'
import { createChangeMarks } from './change-marks.js'
import { createReadThrough, type Coalescing, type ReadOptions } from './read-through.js'
import type { Order } from './schema.js'
import { createUnknownValueLog } from './unknown-values.js'

export interface OrdersService {
  /** the order, or a kept answer that there is none (no such order, expired), and how it was got; any other failure is thrown */
  getOrder: (id: number, machineNo: string, log: VendorLog, options?: ReadOptions) => Promise<Served>
  /** the vendor said this order changed (its delivery callback): the next request for it asks the vendor */
  markChanged: (orderId: number) => void
}

/** The vendor as the service asks it: any endpoint, through the whole call path (src/upstream/resilient.ts). */
export type OrdersVendor = Pick<ResilientVendor, 'call'>

export interface OrdersServiceOptions {
  vendor: OrdersVendor
  cache: ResilienceConfig['cache']
  /** where outcomes are kept when the cache is on (src/shared-state/ chooses it) */
  store: OutcomeStore
  /** one vendor call per key across replicas, when the cache is on (src/shared-state/ chooses it) */
  coalescing: Coalescing
  /** told how every order was served, and from which tier (for metrics) */
  onServed?: ((served: Served) => void) | undefined
  /** where each lookup is traced, with how it was served (none: not traced) */
  tracer?: Tracer | undefined
  /**
   * whether reading the store and coalescing make spans of their own (the Redis client's): then a
   * traced lookup runs in its trace context throughout; otherwise only its vendor call does, and
   * a hit never enters an async context
   */
  storeTraced?: boolean | undefined
  now?: () => number
}

export function createOrdersService ({ vendor, cache, store, coalescing, onServed, tracer, storeTraced = false, now = Date.now }: OrdersServiceOptions): OrdersService {
  const reportUnknown = createUnknownValueLog({ now })
  const changes = createChangeMarks({ now, max: cache.maxEntries, ttlMs: Math.max(cache.freshMs, cache.terminalMs, cache.notFoundMs) })

  async function fetchOrder (id: number, machineNo: string, log: VendorLog, ticket?: CallTicket): Promise<Order> {
    const data = await vendor.call(orderQuery, { orderId: id, machineNo }, log, ticket)
    return normalizeOrder(data, id, (field, value) => { reportUnknown(log, field, value, id) })
  }

  const serve = cache.enabled
    ? createReadThrough({ store, rules: cache, load: fetchOrder, now, coalescing, changes })
    : async (id: number, machineNo: string, log: VendorLog, { priority, onAdmitted, enter }: ReadOptions = {}): Promise<Served> => {
      const order = enter === undefined ? await fetchOrder(id, machineNo, log, { priority, onAdmitted }) : await enter(async () => await fetchOrder(id, machineNo, log, { priority, onAdmitted }))
      return { outcome: { kind: 'order', order, storedAt: now(), freshMs: 0 }, result: 'bypass', tier: 'vendor' }
    }

  // the spans a lookup's vendor call makes (slot waits, attempts) are its children: that call runs in its context
  const traced = tracer === undefined
    ? undefined
    : async (parent: Context, id: number, machineNo: string, log: VendorLog, options: ReadOptions = {}): Promise<Served> => {
      const span = tracer.startSpan('cache lookup', { attributes: { 'vending.order.id': id } }, parent)
      const inLookup = trace.setSpan(parent, span)
      const enter = async <T>(work: () => Promise<T>): Promise<T> => await withinContext(inLookup, work)
      try {
        const served = storeTraced ? await enter(async () => await serve(id, machineNo, log, options)) : await serve(id, machineNo, log, { ...options, enter })
        span.setAttribute('vending.cache.result', served.result)
        return served
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message })
        throw error
      } finally {
        span.end()
      }
    }
  // a span only inside a sampled request: an unsampled one makes none, and starts no trace of its own
  const lookup: typeof serve = traced === undefined
    ? serve
    : (id, machineNo, log, options) => {
        const parent = parentContext(log)
        return parent === undefined ? serve(id, machineNo, log, options) : traced(parent, id, machineNo, log, options)
      }

  return {
    async getOrder (id, machineNo, log, options) {
      const served = await lookup(id, machineNo, log, options)
      if (served.outcome.kind === 'order') onServed?.(served)
      return served
    },
    markChanged: changes.mark
  }
}
