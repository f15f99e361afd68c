import { hash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { ResilienceConfig } from '../config.js'
import { AppError } from '../errors.js'
import { compileSerializer } from '../http/serializer.js'
import { CachedError } from './cached-error.js'
import { OrderSchema, type Order } from './schema.js'

/** What one vendor fetch produced, ready to serve many times: the body is serialized and tagged once. */
export type Answer =
  | { kind: 'order', order: Order, body: string, etag: string, storedAt: number, freshMs: number }
  | { kind: 'error', error: AppError, storedAt: number, freshMs: number }

/** How an answer was obtained, in RFC 9211 Cache-Status terms. */
export type CacheOutcome = 'hit' | 'miss' | 'coalesced' | 'stale' | 'bypass'

export interface Served {
  answer: Extract<Answer, { kind: 'order' }>
  outcome: CacheOutcome
}

export type Load = (id: number, machineNo: string) => Promise<Order>

interface Context {
  id: number
  machineNo: string
  load: Load
}

export type OrderCacheOptions = ResilienceConfig['cache'] & {
  now: () => number
  /** how often expired entries are freed (tests shorten it) */
  purgeEveryMs?: number
}

/** Errors after which a cached order is better than none: the vendor failed, not the order. */
const STALE_IF = new Set(['UPSTREAM_UNREACHABLE', 'UPSTREAM_TIMEOUT', 'UPSTREAM_BAD_RESPONSE', 'UNAVAILABLE'])

/** Bytes counted per order besides its body: key, ETag, the answer object and lru-cache's slot. */
const ENTRY_OVERHEAD_BYTES = 1024
/** Bytes counted per cached error: mostly the error object and its captured stack. */
const ERROR_ENTRY_BYTES = 4096

/** No single answer may take more than this share of CACHE_MAX_BYTES, so one huge order never empties the cache. */
const MAX_ENTRY_SHARE = 8

const PURGE_EVERY_MS = 10_000

/** The route's own 200 serializer: exactly the documented fields, and a missing one throws. */
const serializeOrder = compileSerializer(OrderSchema)

export function orderAnswer (order: Order, storedAt: number, freshMs: number): Extract<Answer, { kind: 'order' }> {
  // serialized and tagged once per vendor answer, then served as often as it is asked for; the
  // values are the normalizer's (property-tested against OrderSchema, not re-validated per answer)
  const body = serializeOrder(order)
  const etag = `"${hash('sha256', body, 'base64url').slice(0, 32)}"`
  return { kind: 'order', order, body, etag, storedAt, freshMs }
}

/** What an entry costs in memory, roughly: the parsed order takes about as much heap as its body, and both are kept. */
function answerBytes (answer: Answer): number {
  return answer.kind === 'order' ? ENTRY_OVERHEAD_BYTES + 2 * answer.body.length : ERROR_ENTRY_BYTES
}

/**
 * Vendor answers by (order id, machine): never by order id alone, so one machine's answer is
 * never served for another. lru-cache bounds the entries and their bytes, and coalesces
 * concurrent fetches of one key into a single vendor call whose result (or error) they share.
 * An order is kept CACHE_STALE_MS past its freshness, for stale-if-error (RFC 5861's meaning),
 * then freed. A Redis store would replace this module behind the same `get`.
 */
export function createOrderCache (options: OrderCacheOptions) {
  const { now } = options

  function freshFor (answer: Answer): number {
    if (answer.kind === 'error') return answer.error.code === 'ORDER_EXPIRED' ? options.terminalMs : options.notFoundMs
    return answer.order.terminal ? options.terminalMs : options.freshMs
  }

  const isFresh = (answer: Answer): boolean => now() - answer.storedAt < answer.freshMs

  const lru = new LRUCache<string, Answer, Context>({
    max: options.maxEntries,
    maxSize: options.maxBytes,
    maxEntrySize: Math.max(1, Math.floor(options.maxBytes / MAX_ENTRY_SHARE)),
    sizeCalculation: (answer, key) => answerBytes(answer) + key.length,
    perf: { now },
    ttlResolution: 0, // read the clock on every check, not a timer-cached copy
    // a failed refresh must not drop the kept answer: it is what stale-if-error serves
    noDeleteOnFetchRejection: true,
    // an entry evicted while its vendor call is in flight (many new keys at once) must still
    // answer the requests waiting on it, not reject them with lru-cache's 'evicted'
    ignoreFetchAbort: true,
    fetchMethod: async (_key, _stale, { options: entry, context }) => {
      let answer: Answer
      try {
        const order = await context.load(context.id, context.machineNo)
        answer = orderAnswer(order, now(), 0)
      } catch (error) {
        if (!(error instanceof AppError) || !isCacheableError(error)) throw error
        answer = { kind: 'error', error, storedAt: now(), freshMs: 0 }
      }
      answer.freshMs = freshFor(answer)
      // lru-cache's TTL is how long the entry is kept (freshness is checked here); a TTL of 0 would mean forever
      entry.ttl = Math.max(1, answer.kind === 'order' ? answer.freshMs + options.staleMs : answer.freshMs)
      return answer
    }
  })
  purgePeriodically(lru, options.purgeEveryMs ?? PURGE_EVERY_MS)

  function isCacheableError (error: AppError): boolean {
    return ['ORDER_NOT_FOUND', 'MACHINE_NOT_FOUND', 'ORDER_EXPIRED'].includes(error.code)
  }

  function served (answer: Answer, outcome: CacheOutcome): Served {
    if (answer.kind === 'error') throw new CachedError(answer, outcome)
    return { answer, outcome }
  }

  return {
    async get (id: number, machineNo: string, load: Load): Promise<Served> {
      const key = `${id}:${machineNo}`
      // the common case of polling, answered without lru-cache's fetch machinery
      const kept = lru.get(key)
      if (kept !== undefined && isFresh(kept)) return served(kept, 'hit')
      const status: LRUCache.Status<string, Answer, Context> = {}
      let answer: Answer | undefined
      try {
        // forced: a kept answer that is no longer fresh is there for stale-if-error only
        answer = await lru.fetch(key, { context: { id, machineNo, load }, status, forceRefresh: true })
      } catch (error) {
        // still kept means still within CACHE_STALE_MS of its freshness
        const stale = lru.get(key)
        if (!(error instanceof AppError) || !STALE_IF.has(error.code) || stale?.kind !== 'order') throw error
        return { answer: stale, outcome: 'stale' }
      }
      if (answer === undefined) throw new AppError('INTERNAL', { detail: 'The order cache returned nothing.' })
      return served(answer, status.fetch === 'inflight' ? 'coalesced' : 'miss')
    },
    /** frees every entry past its time; runs on its own every PURGE_EVERY_MS */
    purgeExpired: () => { lru.purgeStale() },
    get size () { return lru.size },
    /** the entries' counted bytes, never above CACHE_MAX_BYTES */
    get bytes () { return lru.calculatedSize }
  }
}

/**
 * lru-cache frees an expired entry only when it is next asked for; this frees the rest. The
 * timer holds the cache weakly and does not hold the process, so a dropped cache needs no close().
 */
function purgePeriodically (lru: LRUCache<string, Answer, Context>, everyMs: number): void {
  const cache = new WeakRef(lru)
  const timer = setInterval(() => {
    const live = cache.deref()
    if (live === undefined) clearInterval(timer)
    else live.purgeStale()
  }, everyMs)
  timer.unref()
}

export type OrderCache = ReturnType<typeof createOrderCache>
