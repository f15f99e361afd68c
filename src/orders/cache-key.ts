/**
 * The key an order's outcome is kept, coalesced and watched under: never the order id alone,
 * so one machine's order is never served for another.
 */
export function orderKey (id: number, machineNo: string): string {
  return `${id}:${machineNo}`
}
