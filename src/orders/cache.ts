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

/** Errors after which a cached order is better than none: the vendor failed, not the order. */
const STALE_IF = new Set(['UPSTREAM_UNREACHABLE', 'UPSTREAM_TIMEOUT', 'UPSTREAM_BAD_RESPONSE', 'UNAVAILABLE'])

/** The route's own 200 serializer: exactly the documented fields, and a missing one throws. */
const serializeOrder = compileSerializer(OrderSchema)

export function orderAnswer (order: Order, storedAt: number, freshMs: number): Extract<Answer, { kind: 'order' }> {
  // serialized and tagged once per vendor answer, then served as often as it is asked for; the
  // values are the normalizer's (property-tested against OrderSchema, not re-validated per answer)
  const body = serializeOrder(order)
  const etag = `"${hash('sha256', body, 'base64url').slice(0, 32)}"`
  return { kind: 'order', order, body, etag, storedAt, freshMs }
}

/**
 * Vendor answers by (order id, machine): never by order id alone, so one machine's answer is
 * never served for another. lru-cache bounds the entries, coalesces concurrent fetches of one
 * key into a single vendor call whose result (or error) they share, and keeps expired entries
 * for stale-if-error. A Redis store would replace this module behind the same `get`.
 */
export function createOrderCache (options: ResilienceConfig['cache'] & { now: () => number }) {
  const { now } = options

  function freshFor (answer: Answer): number {
    if (answer.kind === 'error') return answer.error.code === 'ORDER_EXPIRED' ? options.terminalMs : options.notFoundMs
    return answer.order.terminal ? options.terminalMs : options.freshMs
  }

  const lru = new LRUCache<string, Answer, Context>({
    max: options.maxEntries,
    perf: { now },
    ttlResolution: 0, // read the clock on every check, not a timer-cached copy
    // a failed refresh must not drop the expired answer: it is what stale-if-error serves
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
      // nothing to keep when it is fresh for no time at all
      if (answer.freshMs === 0) entry.ttl = 1
      else entry.ttl = answer.freshMs
      return answer
    }
  })

  function isCacheableError (error: AppError): boolean {
    return ['ORDER_NOT_FOUND', 'MACHINE_NOT_FOUND', 'ORDER_EXPIRED'].includes(error.code)
  }

  function staleFor (answer: Answer): Served['answer'] | undefined {
    if (answer.kind !== 'order') return undefined
    const limit = answer.order.terminal ? Infinity : options.staleMs
    return now() - answer.storedAt <= limit ? answer : undefined
  }

  function served (answer: Answer, outcome: CacheOutcome): Served {
    if (answer.kind === 'error') throw new CachedError(answer, outcome)
    return { answer, outcome }
  }

  return {
    async get (id: number, machineNo: string, load: Load): Promise<Served> {
      const key = `${id}:${machineNo}`
      // the common case of polling, answered without lru-cache's fetch machinery; an expired
      // entry stays where it is, for stale-if-error
      const fresh = lru.get(key, { noDeleteOnStaleGet: true })
      if (fresh !== undefined) return served(fresh, 'hit')
      const status: LRUCache.Status<string, Answer, Context> = {}
      let answer: Answer | undefined
      try {
        answer = await lru.fetch(key, { context: { id, machineNo, load }, status })
      } catch (error) {
        const kept = lru.get(key, { allowStale: true, noDeleteOnStaleGet: true })
        const stale = error instanceof AppError && STALE_IF.has(error.code) && kept !== undefined ? staleFor(kept) : undefined
        if (stale === undefined) throw error
        return { answer: stale, outcome: 'stale' }
      }
      if (answer === undefined) throw new AppError('INTERNAL', { detail: 'The order cache returned nothing.' })
      return served(answer, status.fetch === 'hit' ? 'hit' : status.fetch === 'inflight' ? 'coalesced' : 'miss')
    },
    get size () { return lru.size }
  }
}

export type OrderCache = ReturnType<typeof createOrderCache>
