import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import { unrefTimers, type Clock } from '../../orders/live/clock.js'
import type { SharedLink } from './latency.js'
import type { Reject } from './rejections.js'
import { BoundedRateLimitStore, DEFAULT_MAX_ENTRIES, type BoundedStoreOptions } from '../memory/rate-limit-store.js'
import { redisCounter, type Counted, type CountInRedis } from './rate-limit-counter.js'

type Callback = Parameters<FastifyRateLimitStore['incr']>[1]
type Timers = Pick<Clock, 'setTimer' | 'clearTimer'>

/** A replica admits at most max / SHARE_DIVISOR requests per client without telling Redis (none under 20). */
export const SHARE_DIVISOR = 20
/** How long an admission waits at most before it is sent to Redis. */
export const SEND_EVERY_MS = 50

/** L: the requests a replica may admit for a client that Redis has not been told of yet. */
export const localShare = (max: number): number => Math.floor(max / SHARE_DIVISOR)

/**
 * What this replica knows of one client's window: the fleet's count at Redis's last answer, what
 * it has admitted since (`sending`, on its way; `pending`, not yet sent), and the window's end on
 * this replica's clock (NaN until Redis first answers). `flight` is the one count under way.
 */
interface Budget {
  timeWindow: number
  share: number
  windowEnd: number
  known: number
  sending: number
  pending: number
  flight: Promise<void> | undefined
}

export interface RedisStoreParts {
  link: SharedLink
  count: CountInRedis
  prefix: string
  /** the bounded memory store, counting while Redis is down or slow */
  local: FastifyRateLimitStore
  maxEntries: number
  now: () => number
  timers: Timers
}

/**
 * One budget per client for the whole cluster: a fixed-window counter in Redis under the key
 * prefix, which this replica spends from locally. A client's first request in a window is counted
 * in Redis before it is answered; after it, the replica admits on what Redis last answered plus
 * what it has admitted since, and sends those admissions (INCRBY) in the background: once it holds
 * L = localShare(max) of them, or SEND_EVERY_MS after the first, whichever comes first. At L unsent
 * it waits for Redis's answer before it admits more. So N replicas admit at most
 * max + (N−1)·L per client per window, one process alone exactly max, and none refuses a client
 * before the fleet has admitted max (docs/operations.md#rate-limits). Budgets under SHARE_DIVISOR
 * (L = 0) are counted in Redis on every request.
 *
 * While Redis is down or slow, or a count fails, this replica counts alone in its bounded memory
 * store, as a single process does; what it had not sent yet is dropped. A counter Redis cannot
 * count is repaired by the count itself (rate-limit-counter.ts).
 */
class RedisRateLimitStore implements FastifyRateLimitStore {
  // in the order their windows opened; bounded by maxEntries, past which a client is counted in Redis on every request
  private readonly budgets = new Map<string, Budget>()
  // keys with admissions not yet sent, and the one timer that sends them
  private readonly unsent = new Set<string>()
  private timer: unknown

  constructor (private readonly parts: RedisStoreParts) {
    parts.link.onDown(() => { this.clear() })
  }

  incr (key: string, callback: Callback, timeWindow: number, max: number): void {
    if (!this.parts.link.isUp()) return this.parts.local.incr(key, callback, timeWindow, max)
    const share = localShare(max)
    const now = this.parts.now()
    let budget = this.budgets.get(key)
    if (budget !== undefined && budget.flight === undefined && !(budget.windowEnd > now)) {
      this.forget(key)
      budget = undefined
    }
    if (budget === undefined) {
      if (share === 0 || !this.makeRoom(now)) return this.countNow(key, callback, timeWindow, max)
      return this.open(key, callback, timeWindow, max, share)
    }
    // the window opening, or ending with a count on its way: decided on Redis's answer
    if (!(budget.windowEnd > now)) return this.after(budget.flight!, key, callback, timeWindow, max)
    const unsent = budget.sending + budget.pending
    const counted = { current: budget.known + unsent + 1, ttl: budget.windowEnd - now }
    // refused here, and not counted: the fleet has admitted max already
    if (budget.known + unsent >= max) return callback(null, counted)
    if (unsent >= budget.share) {
      if (budget.flight === undefined) this.send(key, budget)
      return this.after(budget.flight!, key, callback, timeWindow, max)
    }
    budget.pending++
    callback(null, counted)
    if (budget.flight === undefined) this.sendSoon(key, budget)
  }

  // the keys @fastify/rate-limit's Redis store gives a route of its own, so replicas of either version count together
  child (routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
    const route = (routeOptions as { routeInfo?: { method?: string, url?: string } }).routeInfo
    return new RedisRateLimitStore({ ...this.parts, prefix: `${this.parts.prefix}${route?.method}${route?.url}-`, local: this.parts.local.child(routeOptions) })
  }

  /** Counts one request in Redis and answers with the fleet's count, as every request was before. */
  private countNow (key: string, callback: Callback, timeWindow: number, max: number): void {
    this.parts.count(this.parts.prefix + key, 1, timeWindow, false).then((counted) => {
      if (counted === null) this.parts.local.incr(key, callback, timeWindow, max)
      else callback(null, counted)
    }, callback)
  }

  /** A client's first request in a window: counted in Redis, and the requests meanwhile wait for the answer. */
  private open (key: string, callback: Callback, timeWindow: number, max: number, share: number): void {
    const budget: Budget = { timeWindow, share, windowEnd: NaN, known: 0, sending: 1, pending: 0, flight: undefined }
    this.budgets.set(key, budget)
    budget.flight = this.parts.count(this.parts.prefix + key, 1, timeWindow, false).then((counted) => {
      budget.flight = undefined
      budget.sending = 0
      if (counted === null) return this.parts.local.incr(key, callback, timeWindow, max)
      this.learn(key, budget, counted)
      callback(null, counted)
    }, callback)
  }

  /** Sends what this replica has admitted; Redis's answer is the fleet's count and the window's time left. */
  private send (key: string, budget: Budget): void {
    budget.sending = budget.pending
    budget.pending = 0
    budget.flight = this.parts.count(this.parts.prefix + key, budget.sending, budget.timeWindow, true).then((counted) => {
      budget.flight = undefined
      // failed: Redis counts as down, and the memory store counts; the budget keeps its admissions while it is kept
      if (counted === null) budget.pending += budget.sending
      budget.sending = 0
      if (counted !== null && this.budgets.get(key) === budget) this.learn(key, budget, counted)
    })
  }

  private learn (key: string, budget: Budget, { current, ttl }: Counted): void {
    // the window ended in Redis: what was admitted in it is not counted in the next
    if (ttl < 0) return this.forget(key)
    budget.known = current
    budget.windowEnd = this.parts.now() + ttl
    if (budget.pending > 0) this.sendSoon(key, budget)
  }

  /** At L unsent, sent now; else by the store's one timer, at most SEND_EVERY_MS from now. */
  private sendSoon (key: string, budget: Budget): void {
    if (budget.pending >= budget.share) return this.send(key, budget)
    this.unsent.add(key)
    this.timer ??= this.parts.timers.setTimer(() => { this.sendDue() }, SEND_EVERY_MS)
  }

  private sendDue (): void {
    this.timer = undefined
    const now = this.parts.now()
    const keys = [...this.unsent]
    this.unsent.clear()
    for (const key of keys) {
      const budget = this.budgets.get(key)
      // a count on its way sends the rest when Redis answers
      if (budget === undefined || budget.flight !== undefined || budget.pending === 0) continue
      if (budget.windowEnd > now) this.send(key, budget)
      else this.forget(key)
    }
  }

  /** Decides the request again once Redis has answered the count under way. */
  private after (flight: Promise<void>, key: string, callback: Callback, timeWindow: number, max: number): void {
    flight.then(() => { this.incr(key, callback, timeWindow, max) }, callback)
  }

  private forget (key: string): void {
    this.budgets.delete(key)
    this.unsent.delete(key)
  }

  /** True when another budget fits, after dropping those whose window has ended (oldest first). */
  private makeRoom (now: number): boolean {
    if (this.budgets.size < this.parts.maxEntries) return true
    for (const [key, budget] of this.budgets) {
      if (budget.flight !== undefined || budget.windowEnd > now) break
      this.forget(key)
    }
    return this.budgets.size < this.parts.maxEntries
  }

  /** Redis down or slow: the memory store counts from now on, and what was not sent is dropped. */
  private clear (): void {
    this.budgets.clear()
    this.unsent.clear()
    if (this.timer !== undefined) this.parts.timers.clearTimer(this.timer)
    this.timer = undefined
  }
}

/**
 * The store class @fastify/rate-limit constructs with its options. `local` bounds this store's
 * budgets as it bounds the memory store's counters, on the same clock; `timers` send admissions.
 */
export function redisRateLimitStore (link: SharedLink, reject: Reject, local: BoundedStoreOptions, timers: Timers = unrefTimers): FastifyRateLimitStoreCtor {
  const count = redisCounter(link, reject)
  const maxEntries = local.maxEntries ?? DEFAULT_MAX_ENTRIES
  const now = local.now ?? (() => performance.now())
  return class extends RedisRateLimitStore {
    // plain fixed windows, as rate-limit.ts configures them: neither continueExceeding nor exponentialBackoff
    constructor () {
      super({ link, count, prefix: 'rate-limit:', local: new BoundedRateLimitStore(local), maxEntries, now, timers })
    }
  }
}
