import type { ResilienceConfig } from '../config.js'
import type { VendorLog } from '../vendor/client.js'
import type { VendorOrder } from '../vendor/schemas.js'
import { createOrderCache, orderAnswer, type CacheOutcome, type Served } from './cache.js'
import { normalizeOrder } from './normalize.js'

export interface OrdersService {
  getOrder: (id: number, machineNo: string, log: VendorLog) => Promise<Served>
}

export interface OrdersVendor {
  getOrder: (orderId: number, machineNo: string, log: VendorLog) => Promise<VendorOrder>
}

/** Bound on remembered unknown enum values, so a vendor sending random strings cannot grow memory. */
const MAX_REMEMBERED_UNKNOWN = 1000

export interface OrdersServiceOptions {
  vendor: OrdersVendor
  cache: ResilienceConfig['cache']
  /** told where every served order came from (for metrics) */
  onServed?: ((outcome: CacheOutcome) => void) | undefined
  now?: () => number
}

export function createOrdersService ({ vendor, cache, onServed, now = Date.now }: OrdersServiceOptions): OrdersService {
  const seenUnknown = new Set<string>()
  const orderCache = cache.enabled ? createOrderCache({ ...cache, now }) : undefined

  async function fetchOrder (id: number, machineNo: string, log: VendorLog) {
    const data = await vendor.getOrder(id, machineNo, log)
    return normalizeOrder(data, id, (field, value) => {
      // a new vendor enum value is news once, not on every poll
      const key = `${field}=${value}`
      if (seenUnknown.has(key) || seenUnknown.size >= MAX_REMEMBERED_UNKNOWN) return
      seenUnknown.add(key)
      log.warn({ field, value, orderId: id }, 'vendor sent an enum value this service does not know; answered as UNKNOWN')
    })
  }

  async function getOrder (id: number, machineNo: string, log: VendorLog): Promise<Served> {
    const served = orderCache === undefined
      ? { answer: orderAnswer(await fetchOrder(id, machineNo, log), now(), 0), outcome: 'bypass' as const }
      : await orderCache.get(id, machineNo, (orderId, machine) => fetchOrder(orderId, machine, log))
    onServed?.(served.outcome)
    return served
  }

  return { getOrder }
}
