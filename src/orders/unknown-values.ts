import { LRUCache } from 'lru-cache'
import type { VendorLog } from '../upstream/client.js'
import { forLog } from '../upstream/log-value.js'

export interface UnknownValueLogOptions {
  now: () => number
  /** warnings written per minute; the rest are counted and summed up in one line */
  maxPerMinute?: number
  /** distinct values remembered as already reported */
  remembered?: number
}

export type ReportUnknown = (log: VendorLog, field: string, value: string, orderId: number) => void

const MINUTE_MS = 60_000

/**
 * Warns about enum values this service does not know yet. A new value is news once, not on
 * every poll; and a vendor sending a flood of distinct values gets a few lines a minute, each
 * value cut to a readable length.
 */
export function createUnknownValueLog ({ now, maxPerMinute = 10, remembered = 1000 }: UnknownValueLogOptions): ReportUnknown {
  // keyed by the cut value, so memory stays bounded however long the vendor's strings are
  const reported = new LRUCache<string, true>({ max: remembered })
  let windowStart = now()
  let written = 0
  let suppressed = 0

  return (log, field, value, orderId) => {
    const shown = forLog(value)
    const key = `${field}=${shown}`
    if (reported.has(key)) return
    if (now() - windowStart >= MINUTE_MS) {
      if (suppressed > 0) log.warn({ suppressed }, `${suppressed} more warnings about unknown vendor enum values were not logged in the last minute`)
      windowStart = now()
      written = 0
      suppressed = 0
    }
    // not remembered when suppressed: it is still news in a later minute
    if (written >= maxPerMinute) {
      suppressed++
      return
    }
    written++
    reported.set(key, true)
    log.warn({ field, value: shown, orderId }, 'vendor sent an enum value this service does not know; answered as UNKNOWN')
  }
}
