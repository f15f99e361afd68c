import type { ResilienceConfig } from '../config.js'
import type { VendorLog } from '../upstream/client.js'
import type { VendorOrder } from '../upstream/schemas.js'
import { createOrderCache, orderAnswer, type CacheOutcome, type Served } from './cache.js'
import { normalizeOrder } from './normalize.js'
import { createUnknownValueLog } from './unknown-values.js'

export interface OrdersService {
  getOrder: (id: number, machineNo: string, log: VendorLog) => Promise<Served>
}

export interface OrdersVendor {
  getOrder: (orderId: number, machineNo: string, log: VendorLog) => Promise<VendorOrder>
}

export interface OrdersServiceOptions {
  vendor: OrdersVendor
  cache: ResilienceConfig['cache']
  /** told where every served order came from (for metrics) */
  onServed?: ((outcome: CacheOutcome) => void) | undefined
  now?: () => number
}

export function createOrdersService ({ vendor, cache, onServed, now = Date.now }: OrdersServiceOptions): OrdersService {
  const reportUnknown = createUnknownValueLog({ now })
  const orderCache = cache.enabled ? createOrderCache({ ...cache, now }) : undefined

  async function fetchOrder (id: number, machineNo: string, log: VendorLog) {
    const data = await vendor.getOrder(id, machineNo, log)
    return normalizeOrder(data, id, (field, value) => { reportUnknown(log, field, value, id) })
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
