import { ERROR_KINDS, isAppError } from '../../errors/catalogue.js'
import { CallDeferred } from '../../upstream/call-budget.js'
import type { VendorLog } from '../../upstream/client.js'
import { orderKey } from '../cache-key.js'
import type { Served } from '../outcome.js'
import type { WatchBus } from './bus.js'
import { systemClock, type Clock } from './clock.js'
import { createFanOut, type FanOut, type WatchListener } from './fan-out.js'
import { createPollTurns } from './poll-turns.js'
import { Poller, type PollResult } from './poller.js'
import { isFinal } from './predicates.js'
import type { ReadOptions } from '../read-through.js'

export interface WatchersOptions {
  getOrder: (id: number, machineNo: string, log: VendorLog, options?: ReadOptions) => Promise<Served>
  /** the pollers' log: their vendor calls' lines go out at debug, a poll every CACHE_FRESH_MS per watched order being routine */
  log: VendorLog & { debug: VendorLog['info'] }
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
  /** told, at each answered poll but a key's first, how long since that key's last: the interval the budget stretches */
  onPollInterval?: (ms: number) => void
  clock?: Clock
  /**
   * the vendor calls are budgeted (VENDOR_MAX_CALLS_PER_SECOND): the keys' polls take turns in one
   * line, so that when the budget cannot poll every key every interval each waits as long as the others
   */
  takeTurns?: boolean
}

/** How a change heard on the bus was got here: another replica's vendor call, through the shared state (read-through's label for that). */
const FROM_ANOTHER_REPLICA = { result: 'coalesced', tier: 'redis' } as const satisfies Omit<Served, 'outcome'>

/** One watched (order id, machine): its poller and its watchers. */
interface Watched {
  id: number
  machineNo: string
  poller: Poller
  fanOut: FanOut
  /** when its last poll was answered (clock ms); undefined before the first */
  polledAt?: number
}

/**
 * One poller per (order id, machine) for any number of watchers. It asks the orders service
 * (cache, coalescing, breaker and retry apply) every interval, tells the watchers of an outcome
 * whose tag changed, here and on the bus, and stops at a terminal order or a final error, or
 * when its last watcher leaves. While the vendor fails it backs off; the watchers keep what they
 * have (the service serves stale orders where stale-if-error allows, and that counts as failing
 * too). A wake on the bus (a delivery callback, on any replica) refreshes every key of that order.
 * With the vendor calls budgeted, polls are background work: they take turns in one line and the
 * budget may put them off (their interval stretches, they do not fail), while a wake's refresh
 * skips the line and comes first.
 */
export function createWatchers (options: WatchersOptions) {
  const {
    getOrder, log: watchersLog, minIntervalMs = 250, maxBackoffMs = 30_000, wakeIntervalMs = 250, onWatchedCount,
    bus, clock = systemClock, takeTurns = false
  } = options
  // what a request's vendor call says at info, a poll's says at debug; its warnings and errors stay as they are
  const log: VendorLog = { info: (obj, msg) => { watchersLog.debug(obj, msg) }, warn: (obj, msg) => { watchersLog.warn(obj, msg) }, error: (obj, msg) => { watchersLog.error(obj, msg) } }
  const intervalMs = Math.max(minIntervalMs, options.intervalMs)
  const watchedKeys = new Map<string, Watched>()
  const turns = takeTurns ? createPollTurns({ clock }) : undefined
  let closed = false

  const countChanged = () => onWatchedCount?.(watchedKeys.size)

  /** Tells the key's watchers of `served` when it is a change, and stops its poller when nothing can follow; false when nothing changed. */
  function publish (watched: Watched, served: Served): boolean {
    if (!watched.fanOut.publish(served)) return false
    if (isFinal(served.outcome)) watched.poller.stop()
    return true
  }

  /**
   * One poll of the key through the orders service; a change is told here first, then on the bus
   * to every replica. A refresh (a wake asked for it) comes before background polls for the budget.
   */
  async function poll (key: string, watched: Watched, refresh: boolean, admitted: () => void): Promise<PollResult> {
    let served: Served
    try {
      served = await getOrder(watched.id, watched.machineNo, log, { refresh, priority: refresh ? 'wake' : 'background', onAdmitted: admitted })
    } catch (error) {
      if (error instanceof CallDeferred) return { deferredMs: error.retryInMs }
      if (!isAppError(error) || !ERROR_KINDS[error.code].final) return 'failed'
      // a final answer the cache did not keep (the cache is off): it ends the watch all the same
      served = { outcome: { kind: 'error', error, storedAt: clock.now(), freshMs: 0 }, result: 'bypass', tier: 'vendor' }
    }
    const now = clock.now()
    if (watched.polledAt !== undefined) options.onPollInterval?.(now - watched.polledAt)
    watched.polledAt = now
    if (publish(watched, served)) bus.publishChange(key, served.outcome)
    // a stale order means the vendor failed just now
    return served.result === 'stale' ? 'failed' : 'answered'
  }

  function startWatching (key: string, id: number, machineNo: string): Watched {
    const watched: Watched = {
      id,
      machineNo,
      fanOut: createFanOut(),
      poller: new Poller({
        poll: (refresh, admitted) => poll(key, watched, refresh, admitted),
        intervalMs,
        maxBackoffMs,
        wakeIntervalMs,
        clock,
        turns,
        onError: (error) => { log.error({ err: error }, 'order watcher failed') }
      })
    }
    watchedKeys.set(key, watched)
    countChanged()
    watched.poller.start()
    return watched
  }

  // this process's own changes come back here and are dropped by their tag; other replicas' are news
  const offChange = bus.onChange((key, outcome) => {
    const watched = watchedKeys.get(key)
    if (watched !== undefined) publish(watched, { outcome, ...FROM_ANOTHER_REPLICA })
  })

  // a delivery callback said this order changed: re-query every watched machine of it now
  const offWake = bus.onWake((orderId) => {
    for (const watched of watchedKeys.values()) if (watched.id === orderId) watched.poller.wake()
  })

  /**
   * Tells `listener` of every outcome of this order on this machine whose tag differs from
   * `tag` (the one the watcher already has; none: the current one too), until the returned
   * function is called. A new key starts its poller at once.
   */
  function watch (id: number, machineNo: string, listener: WatchListener, tag?: string): () => void {
    if (closed) { listener({ type: 'closed' }); return () => {} }
    const key = orderKey(id, machineNo)
    const watched = watchedKeys.get(key) ?? startWatching(key, id, machineNo)
    const leave = watched.fanOut.subscribe(listener, tag)
    return () => {
      if (!leave() || watched.fanOut.size > 0) return
      watched.poller.stop()
      if (watchedKeys.get(key) === watched) watchedKeys.delete(key)
      countChanged()
    }
  }

  return {
    bus,
    /** how many (order, machine) keys are watched */
    get size () { return watchedKeys.size },

    watch,

    /** Stops every poller and tells every watcher that watching is over (shutdown). */
    close (): void {
      closed = true
      offChange()
      offWake()
      turns?.close()
      const all = [...watchedKeys.values()]
      watchedKeys.clear()
      countChanged()
      for (const watched of all) {
        watched.poller.stop()
        watched.fanOut.close()
      }
    }
  }
}

export type Watchers = ReturnType<typeof createWatchers>
