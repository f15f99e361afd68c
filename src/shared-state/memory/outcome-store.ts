import { LRUCache } from 'lru-cache'
import type { Outcome, TieredOutcome } from '../../orders/outcome.js'
import { representationOf } from '../../orders/representation.js'

export interface MemoryOutcomeStoreOptions {
  /** CACHE_MAX_ENTRIES */
  maxEntries: number
  /** CACHE_MAX_BYTES: a bound on the entries' estimated heap bytes */
  maxBytes: number
  now: () => number
  /** how often expired entries are freed (tests shorten it) */
  purgeEveryMs?: number
}

/**
 * What one kept order takes on the V8 heap, measured (bench/results.md, "What a cached order
 * costs"): about 2,100 bytes besides its body (the outcome, the parsed order's objects, the ETag
 * and lru-cache's slot) and 2.4 bytes per character of body (the body string, and the parsed
 * order's strings and numbers). Counted a little above both, so CACHE_MAX_BYTES is a ceiling.
 */
const ENTRY_OVERHEAD_BYTES = 2304
const BYTES_PER_BODY_CHAR = 2.5
/** Bytes counted per kept error: mostly the error object and its captured stack. */
const ERROR_ENTRY_BYTES = 4096

/** No single outcome may take more than this share of CACHE_MAX_BYTES, so one huge order never empties the store. */
const MAX_ENTRY_SHARE = 8

/** How often the entries nobody asks for again are checked for expiry. */
const PURGE_EVERY_MS = 10_000

/** What an entry costs on the heap: an order by the size of its body, a kept error at a flat rate. */
function outcomeBytes (outcome: Outcome): number {
  return outcome.kind === 'order' ? ENTRY_OVERHEAD_BYTES + Math.ceil(BYTES_PER_BODY_CHAR * representationOf(outcome.order).body.length) : ERROR_ENTRY_BYTES
}

/**
 * An outcome as the memory tier keeps it, with the epoch it was kept in: the shared store's
 * word for whether every change of it since has been heard (src/shared-state/redis/outcome-store.ts);
 * -1 when it was kept outside any (no shared store, or the link down).
 */
export interface KeptOutcome extends TieredOutcome {
  epoch: number
}

/** Outcomes in this process's memory, bounded in entries and in bytes (lru-cache), least recently used out first. */
export function createMemoryOutcomeStore (options: MemoryOutcomeStoreOptions) {
  // entries are made once when stored, so a hit allocates nothing
  const lru = new LRUCache<string, KeptOutcome>({
    max: options.maxEntries,
    maxSize: options.maxBytes,
    maxEntrySize: Math.max(1, Math.floor(options.maxBytes / MAX_ENTRY_SHARE)),
    sizeCalculation: (kept, key) => outcomeBytes(kept.outcome) + key.length,
    perf: { now: options.now },
    ttlResolution: 0 // read the clock on every check, not a timer-cached copy
  })
  purgePeriodically(lru, options.purgeEveryMs ?? PURGE_EVERY_MS)

  return {
    get: (key: string): KeptOutcome | undefined => lru.get(key),
    // lru-cache reads a TTL of 0 as forever
    set: (key: string, outcome: Outcome, keepMs: number, epoch = -1): void => { lru.set(key, { outcome, tier: 'memory', epoch }, { ttl: Math.max(1, keepMs) }) },
    get size () { return lru.size },
    /** the entries' counted bytes, never above CACHE_MAX_BYTES */
    get bytes () { return lru.calculatedSize }
  }
}

/**
 * lru-cache frees an expired entry only when it is next asked for; this frees the rest. The
 * timer holds the cache weakly and does not hold the process, so a dropped store needs no close().
 */
function purgePeriodically (lru: LRUCache<string, KeptOutcome>, everyMs: number): void {
  const cache = new WeakRef(lru)
  const timer = setInterval(() => {
    const live = cache.deref()
    if (live === undefined) clearInterval(timer)
    else live.purgeStale()
  }, everyMs)
  timer.unref()
}

export type MemoryOutcomeStore = ReturnType<typeof createMemoryOutcomeStore>
