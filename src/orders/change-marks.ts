import { LRUCache } from 'lru-cache'

export interface ChangeMarks {
  /** the vendor said this order changed (a delivery callback, on any replica) */
  mark: (orderId: number) => void
  /** true when an outcome of this order stored at `storedAt` predates the last word that it changed */
  changedSince: (orderId: number, storedAt: number) => boolean
}

export interface ChangeMarksOptions {
  now: () => number
  /** orders remembered; the oldest mark goes first (a forgotten mark only means the keep time rules again) */
  max: number
  /** a mark outlives no outcome it could concern: the longest keep time */
  ttlMs: number
}

/**
 * When each order was last said to have changed. The callback names no machine, so a mark
 * covers every machine of the order id; an answer kept from before it is no longer fresh, so
 * the next request asks the vendor, watched or not.
 */
export function createChangeMarks ({ now, max, ttlMs }: ChangeMarksOptions): ChangeMarks {
  const marks = new LRUCache<number, number>({ max, ttl: Math.max(1, ttlMs), perf: { now }, ttlResolution: 0 })
  return {
    mark (orderId) { marks.set(orderId, now()) },
    changedSince (orderId, storedAt) {
      const at = marks.get(orderId)
      return at !== undefined && storedAt <= at
    }
  }
}
