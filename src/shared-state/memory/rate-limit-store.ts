import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'

/** The memory the counters may use; the entry count is derived from it. */
export const STORE_BUDGET_BYTES = 32 * 1024 * 1024

/**
 * A generous estimate of one counter on the V8 heap: its key ("ip:" and an IPv6 /64 prefix,
 * or a key id), the counter object and its slot in a Map, with the Map's spare capacity.
 */
export const BYTES_PER_ENTRY = 320

export const DEFAULT_MAX_ENTRIES = Math.floor(STORE_BUDGET_BYTES / BYTES_PER_ENTRY)

export interface BoundedStoreOptions {
  /** how many clients are counted at once (default from the memory budget) */
  maxEntries?: number
  /** milliseconds on a clock that never steps back (default performance.now); tests pass a fake */
  now?: () => number
}

interface Counter {
  count: number
  windowStart: number
}

type Result = { current: number, ttl: number }

/**
 * Fixed-window counters for @fastify/rate-limit, bounded in memory. Unlike the plugin's LRU,
 * a full store never forgets a client that has used up its budget: it makes room by dropping
 * expired counters, then the oldest counter still under its limit (whose client at worst gets
 * a fresh budget); when every counter is used up, a new client is answered as limited, to
 * retry when the first of them to run out expires. Filling it that way takes maxEntries × max
 * requests in one window.
 */
export class BoundedRateLimitStore implements FastifyRateLimitStore {
  private readonly maxEntries: number
  private readonly now: () => number
  // counters under their limit, oldest window first (a new window re-inserts at the end)
  private readonly counting = new Map<string, Counter>()
  // counters that have used up their budget, in the order they did: never evicted, only expired
  private readonly exhausted = new Map<string, Counter>()

  constructor (options: BoundedStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new RangeError('maxEntries must be a positive integer')
    this.now = options.now ?? (() => performance.now())
  }

  get size (): number {
    return this.counting.size + this.exhausted.size
  }

  incr (key: string, callback: (error: Error | null, result?: Result) => void, timeWindow: number, max: number): void {
    const now = this.now()
    let counter = this.counting.get(key) ?? this.exhausted.get(key)
    if (counter !== undefined && counter.windowStart + timeWindow <= now) {
      this.forget(key)
      counter = undefined
    }
    if (counter === undefined) {
      if (!this.makeRoom(now, timeWindow)) {
        const firstToExpire = this.exhausted.values().next().value!
        return callback(null, { current: max + 1, ttl: firstToExpire.windowStart + timeWindow - now })
      }
      counter = { count: 0, windowStart: now }
      this.counting.set(key, counter)
    }
    counter.count++
    if (counter.count >= max && this.counting.delete(key)) this.exhausted.set(key, counter)
    callback(null, { current: counter.count, ttl: counter.windowStart + timeWindow - now })
  }

  child (): FastifyRateLimitStore {
    return new BoundedRateLimitStore({ maxEntries: this.maxEntries, now: this.now })
  }

  private forget (key: string): void {
    if (!this.counting.delete(key)) this.exhausted.delete(key)
  }

  /** True when a new counter fits; evicts nothing that is over its limit. */
  private makeRoom (now: number, timeWindow: number): boolean {
    if (this.size < this.maxEntries) return true
    dropExpired(this.counting, now, timeWindow)
    dropExpired(this.exhausted, now, timeWindow)
    if (this.size < this.maxEntries) return true
    const oldestCounting = this.counting.keys().next()
    if (oldestCounting.done === true) return false
    this.counting.delete(oldestCounting.value)
    return true
  }
}

/**
 * Drops expired counters from the front of the map. `counting` is in window order, so this
 * finds all of them; `exhausted` is in the order budgets ran out, so one may wait a window more.
 */
function dropExpired (counters: Map<string, Counter>, now: number, timeWindow: number): void {
  for (const [key, counter] of counters) {
    if (counter.windowStart + timeWindow > now) return
    counters.delete(key)
  }
}

/** The class the plugin's `store` option wants (it constructs the store itself). */
export function boundedStore (options: BoundedStoreOptions = {}): FastifyRateLimitStoreCtor {
  return class extends BoundedRateLimitStore {
    constructor () {
      super(options)
    }
  }
}
