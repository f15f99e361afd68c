import { ERROR_KINDS, isAppError } from '../../errors/catalogue.js'
import type { VendorLog } from '../../upstream/client.js'
import { orderKey } from '../cache-key.js'
import type { Outcome, Served } from '../outcome.js'
import type { WatchBus } from './bus.js'
import type { ReadOptions } from '../read-through.js'
import { representationOf } from '../representation.js'

/** What a watcher is told: a new outcome (an order, or a final error) with its tag, or that watching is over (shutdown). */
export type WatchEvent = { type: 'change', outcome: Outcome, tag: string } | { type: 'closed' }
export type WatchListener = (event: WatchEvent) => void

/** The tag of an outcome: the order's ETag, or the final error's code, so a change is told from a repeat. */
export function outcomeTag (outcome: Outcome): string {
  return outcome.kind === 'order' ? representationOf(outcome.order).etag : `problem:${outcome.error.code}`
}

/** True when nothing can follow this outcome: a terminal order or a final error (no such order or machine, expired). */
export function isFinal (outcome: Outcome): boolean {
  return outcome.kind === 'error' || outcome.order.terminal
}

export interface WatchersOptions {
  getOrder: (id: number, machineNo: string, log: VendorLog, options?: ReadOptions) => Promise<Served>
  log: VendorLog
  /** CACHE_FRESH_MS: a poller asks this often (the cache answers in between) */
  intervalMs: number
  /** the shortest interval, also when CACHE_FRESH_MS is 0 (default 250 ms) */
  minIntervalMs?: number
  /** the longest backoff while the vendor fails (default 30 s) */
  maxBackoffMs?: number
  /** at most one forced refresh per key this often, however many wakes arrive (default 250 ms) */
  wakeIntervalMs?: number
  bus: WatchBus
  /** told how many (order, machine) keys are watched, when that changes */
  onWatchedCount?: (count: number) => void
  now?: () => number
  setTimer?: (callback: () => void, ms: number) => unknown
  clearTimer?: (timer: unknown) => void
}

interface Subscription {
  listener: WatchListener
  /** the tag this watcher has; it is told only of others */
  tag: string | undefined
}

interface Poller {
  key: string
  id: number
  machineNo: string
  subscriptions: Set<Subscription>
  /** the newest outcome seen for this key, here or on the bus */
  latest: { outcome: Outcome, tag: string } | undefined
  timer: unknown
  dueAt: number
  /** the next poll forces a vendor call (a wake asked for it) */
  refreshNext: boolean
  inFlight: boolean
  /** a wake arrived during a poll: refresh once it is done */
  wakePending: boolean
  lastRefreshAt: number
  failures: number
  stopped: boolean
}

function newPoller (key: string, id: number, machineNo: string): Poller {
  return {
    key,
    id,
    machineNo,
    subscriptions: new Set(),
    latest: undefined,
    timer: undefined,
    dueAt: 0,
    refreshNext: false,
    inFlight: false,
    wakePending: false,
    lastRefreshAt: -Infinity,
    failures: 0,
    stopped: false
  }
}

/**
 * One poller per (order id, machine) for any number of watchers. It asks the orders service
 * (cache, coalescing, breaker and retry apply) every interval, publishes an outcome whose tag
 * changed, and stops at a terminal order or a final error, or when its last watcher leaves.
 * While the vendor fails it backs off; the watchers keep what they have (the service serves
 * stale orders where stale-if-error allows, and that counts as failing too).
 */
export function createWatchers (options: WatchersOptions) {
  const {
    getOrder, log, minIntervalMs = 250, maxBackoffMs = 30_000, wakeIntervalMs = 250, onWatchedCount,
    bus, now = Date.now
  } = options
  const setTimer = options.setTimer ?? ((callback, ms) => setTimeout(callback, ms))
  const clearTimer = options.clearTimer ?? ((timer) => { clearTimeout(timer as NodeJS.Timeout) })
  const intervalMs = Math.max(minIntervalMs, options.intervalMs)
  const pollers = new Map<string, Poller>()
  let closed = false

  const countChanged = () => onWatchedCount?.(pollers.size)

  function schedule (poller: Poller, delayMs: number, refresh = false): void {
    if (poller.stopped || poller.inFlight) return
    const dueAt = now() + delayMs
    if (poller.timer !== undefined) {
      if (poller.dueAt <= dueAt) { poller.refreshNext ||= refresh; return }
      clearTimer(poller.timer)
    }
    poller.dueAt = dueAt
    poller.refreshNext ||= refresh
    poller.timer = setTimer(() => {
      poll(poller).catch((error: unknown) => { log.error({ err: error }, 'order watcher failed') })
    }, delayMs)
  }

  function stop (poller: Poller): void {
    poller.stopped = true
    if (poller.timer !== undefined) clearTimer(poller.timer)
    poller.timer = undefined
  }

  async function poll (poller: Poller): Promise<void> {
    const refresh = poller.refreshNext
    poller.timer = undefined
    poller.refreshNext = false
    poller.inFlight = true
    if (refresh) poller.lastRefreshAt = now()
    let outcome: Outcome | undefined
    try {
      const served = await getOrder(poller.id, poller.machineNo, log, { refresh })
      outcome = served.outcome
      poller.failures = served.result === 'stale' ? poller.failures + 1 : 0
    } catch (error) {
      if (isAppError(error) && ERROR_KINDS[error.code].final) {
        // a final answer the cache did not keep (the cache is off): it ends the watch all the same
        outcome = { kind: 'error', error, storedAt: now(), freshMs: 0 }
      } else {
        poller.failures += 1
      }
    }
    poller.inFlight = false
    if (outcome !== undefined && outcomeTag(outcome) !== poller.latest?.tag) bus.publishChange(poller.key, outcome)
    if (poller.stopped) return
    if (poller.wakePending) {
      poller.wakePending = false
      return schedule(poller, Math.max(0, poller.lastRefreshAt + wakeIntervalMs - now()), true)
    }
    schedule(poller, poller.failures === 0 ? intervalMs : Math.min(maxBackoffMs, intervalMs * 2 ** poller.failures))
  }

  function deliver (subscription: Subscription, latest: { outcome: Outcome, tag: string }): void {
    if (subscription.tag === latest.tag) return
    subscription.tag = latest.tag
    subscription.listener({ type: 'change', ...latest })
  }

  // changes from this process's pollers and, through the bus, from other replicas'
  const offChange = bus.onChange((key, outcome) => {
    const poller = pollers.get(key)
    if (poller === undefined) return
    const tag = outcomeTag(outcome)
    if (tag === poller.latest?.tag) return
    poller.latest = { outcome, tag }
    if (isFinal(outcome)) stop(poller)
    for (const subscription of [...poller.subscriptions]) deliver(subscription, poller.latest)
  })

  /** Re-query every watched key of this order id now (a delivery callback said it changed), at most once per wakeIntervalMs per key. */
  function wake (orderId: number): void {
    for (const poller of pollers.values()) {
      if (poller.id !== orderId || poller.stopped) continue
      if (poller.inFlight) poller.wakePending = true
      else schedule(poller, Math.max(0, poller.lastRefreshAt + wakeIntervalMs - now()), true)
    }
  }
  const offWake = bus.onWake(wake)

  /**
   * Tells `listener` of every outcome of this order on this machine whose tag differs from
   * `tag` (the one the watcher already has; none: the current one too), until the returned
   * function is called. A new key starts its poller at once.
   */
  function watch (id: number, machineNo: string, listener: WatchListener, tag?: string): () => void {
    if (closed) { listener({ type: 'closed' }); return () => {} }
    const key = orderKey(id, machineNo)
    let poller = pollers.get(key)
    if (poller === undefined) {
      poller = newPoller(key, id, machineNo)
      pollers.set(key, poller)
      countChanged()
      schedule(poller, 0)
    }
    const subscription: Subscription = { listener, tag }
    poller.subscriptions.add(subscription)
    if (poller.latest !== undefined) deliver(subscription, poller.latest)
    const watched = poller
    return () => {
      if (!watched.subscriptions.delete(subscription) || watched.subscriptions.size > 0) return
      stop(watched)
      if (pollers.get(key) === watched) pollers.delete(key)
      countChanged()
    }
  }

  return {
    bus,
    /** how many (order, machine) keys are watched */
    get size () { return pollers.size },

    watch,

    /**
     * The next outcome of this key whose tag differs from `tag` (a long poll), or undefined when
     * `timeoutMs` passes, `signal` aborts (the client left) or the watchers close.
     */
    nextChange (id: number, machineNo: string, tag: string, timeoutMs: number, signal?: AbortSignal): Promise<Outcome | undefined> {
      return new Promise((resolve) => {
        let settled = false
        let unwatch = () => {}
        const finish = (outcome?: Outcome) => {
          if (settled) return
          settled = true
          clearTimer(timer)
          signal?.removeEventListener('abort', onAbort)
          unwatch()
          resolve(outcome)
        }
        const onAbort = () => { finish() }
        const timer = setTimer(onAbort, timeoutMs)
        signal?.addEventListener('abort', onAbort)
        if (signal?.aborted === true) return finish()
        unwatch = watch(id, machineNo, (event) => { finish(event.type === 'change' ? event.outcome : undefined) }, tag)
        // told at once (the key already had a newer outcome): leave now that unwatch is known
        if (settled) unwatch()
      })
    },

    wake,

    /** Stops every poller and tells every watcher that watching is over (shutdown). */
    close (): void {
      closed = true
      offChange()
      offWake()
      const all = [...pollers.values()]
      pollers.clear()
      countChanged()
      for (const poller of all) {
        stop(poller)
        for (const subscription of poller.subscriptions) subscription.listener({ type: 'closed' })
        poller.subscriptions.clear()
      }
    }
  }
}

export type Watchers = ReturnType<typeof createWatchers>
