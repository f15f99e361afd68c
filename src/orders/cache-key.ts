/**
 * The key an order's outcome is kept, coalesced and watched under: never the order id alone,
 * so one machine's order is never served for another.
 */
export function orderKey (id: number, machineNo: string): string {
  return `${id}:${machineNo}`
}

/** The order id a key was made from (orderKey's first part); undefined for what orderKey never makes. */
export function orderIdOfKey (key: string): number | undefined {
  const id = /^([1-9]\d*):\d+$/.exec(key)?.[1]
  return id === undefined ? undefined : Number(id)
}
