import type { VendorClient, VendorLog } from '../vendor/client.js'
import { normalizeOrder } from './normalize.js'
import type { Order } from './schema.js'

export interface OrdersService {
  getOrder: (id: number, machineNo: string, log: VendorLog) => Promise<Order>
}

/** Bound on remembered unknown enum values, so a vendor sending random strings cannot grow memory. */
const MAX_REMEMBERED_UNKNOWN = 1000

export function createOrdersService ({ vendor }: { vendor: VendorClient }): OrdersService {
  const seenUnknown = new Set<string>()

  async function getOrder (id: number, machineNo: string, log: VendorLog): Promise<Order> {
    const data = await vendor.getOrder(id, machineNo, { log })
    return normalizeOrder(data, id, (field, value) => {
      // a new vendor enum value is news once, not on every poll
      const key = `${field}=${value}`
      if (seenUnknown.has(key) || seenUnknown.size >= MAX_REMEMBERED_UNKNOWN) return
      seenUnknown.add(key)
      log.warn({ field, value, orderId: id }, 'vendor sent an enum value this service does not know; answered as UNKNOWN')
    })
  }

  return { getOrder }
}
