import { SpanStatusCode, type Tracer } from '@opentelemetry/api'
import type { ResilienceConfig } from '../config/config.js'
import { recordingSpanActive } from '../observability/tracing.js'
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
  now?: () => number
}

export function createOrdersService ({ vendor, cache, store, coalescing, onServed, tracer, now = Date.now }: OrdersServiceOptions): OrdersService {
  const reportUnknown = createUnknownValueLog({ now })
  const changes = createChangeMarks({ now, max: cache.maxEntries, ttlMs: Math.max(cache.freshMs, cache.terminalMs, cache.notFoundMs) })

  async function fetchOrder (id: number, machineNo: string, log: VendorLog, ticket?: CallTicket): Promise<Order> {
    const data = await vendor.call(orderQuery, { orderId: id, machineNo }, log, ticket)
    return normalizeOrder(data, id, (field, value) => { reportUnknown(log, field, value, id) })
  }

  const serve = cache.enabled
    ? createReadThrough({ store, rules: cache, load: fetchOrder, now, coalescing, changes })
    : async (id: number, machineNo: string, log: VendorLog, { priority, onAdmitted }: ReadOptions = {}): Promise<Served> =>
      ({ outcome: { kind: 'order', order: await fetchOrder(id, machineNo, log, { priority, onAdmitted }), storedAt: now(), freshMs: 0 }, result: 'bypass', tier: 'vendor' })

  // the vendor calls a lookup makes are its children: they run in its context
  const traced: typeof serve | undefined = tracer === undefined
    ? undefined
    : async (id, machineNo, log, options) => await tracer.startActiveSpan('cache lookup', { attributes: { 'vending.order.id': id } }, async (span) => {
      try {
        const served = await serve(id, machineNo, log, options)
        span.setAttribute('vending.cache.result', served.result)
        return served
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message })
        throw error
      } finally {
        span.end()
      }
    })
  // a span only inside a sampled request: an unsampled one makes none, and starts no trace of its own
  const lookup: typeof serve = traced === undefined
    ? serve
    : (id, machineNo, log, options) => recordingSpanActive() ? traced(id, machineNo, log, options) : serve(id, machineNo, log, options)

  return {
    async getOrder (id, machineNo, log, options) {
      const served = await lookup(id, machineNo, log, options)
      if (served.outcome.kind === 'order') onServed?.(served)
      return served
    },
    markChanged: changes.mark
  }
}
