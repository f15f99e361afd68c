import type { Served } from '../outcome.js'
import { outcomeTag } from './predicates.js'

/** A new outcome of a watched key: its tag, and how it was got (the poller's Served, or another replica's change). */
export interface WatchChange extends Served {
  type: 'change'
  tag: string
}

/** What a watcher is told: a change, or that watching is over (shutdown). */
export type WatchEvent = WatchChange | { type: 'closed' }
export type WatchListener = (event: WatchEvent) => void

export interface FanOutOptions {
  /** watchers told in one go before the rest wait for the next turn of the event loop (default FAN_OUT_CHUNK) */
  chunkSize?: number
  /** runs the next chunk on a later turn of the event loop (default setImmediate: after the I/O that is waiting) */
  later?: (next: () => void) => void
}

/**
 * Watchers told of a change in one turn of the event loop. Node sends what a response writes
 * only once the turn's synchronous work is done (it corks the socket until the next tick), so
 * the first watchers hear of a change after one chunk, not after every watcher of the key; and
 * between chunks the process answers other requests.
 */
export const FAN_OUT_CHUNK = 256

/** One change on its way to the watchers there were when it came, in order. */
interface Round {
  change: WatchChange
  watchers: Subscription[]
  next: number
}

interface Subscription {
  listener: WatchListener
  /** the tag this watcher has; it is told only of others */
  tag: string | undefined
}

/**
 * The watchers of one key and the latest change they were told of. Each is told of every
 * outcome whose tag differs from the one it has, a newcomer at once of the latest; the same
 * outcome again (a repeat poll, a change heard twice on the bus) is told to nobody. A change
 * goes to the watchers `chunkSize` at a time, the first chunk at once and each next one on a
 * later turn of the event loop; a change that comes meanwhile follows it, so every watcher is
 * told of the changes in the order they came, each once.
 */
export function createFanOut ({ chunkSize = FAN_OUT_CHUNK, later = setImmediate }: FanOutOptions = {}) {
  const subscriptions = new Set<Subscription>()
  let latest: WatchChange | undefined
  /** changes still being told, oldest first */
  const rounds: Round[] = []
  let scheduled = false
  let running = false

  /** Tells up to chunkSize watchers, oldest change first; the rest on a later turn. */
  function run (): void {
    running = true
    let budget = chunkSize
    while (rounds.length > 0 && budget > 0) {
      const round = rounds[0]!
      while (round.next < round.watchers.length && budget > 0) {
        const subscription = round.watchers[round.next++]!
        // a watcher that left meanwhile is told nothing more
        if (!subscriptions.has(subscription)) continue
        budget--
        deliver(subscription, round.change)
      }
      if (round.next >= round.watchers.length) rounds.shift()
    }
    running = false
    if (rounds.length > 0 && !scheduled) {
      scheduled = true
      later(() => { scheduled = false; run() })
    }
  }

  function deliver (subscription: Subscription, change: WatchChange): void {
    if (subscription.tag === change.tag) return
    subscription.tag = change.tag
    subscription.listener(change)
  }

  return {
    get size () { return subscriptions.size },

    /**
     * Adds a watcher that has `tag` (none: it is told the latest too); returns the function that
     * removes it, which says whether this call removed it (false when it had left already).
     */
    subscribe (listener: WatchListener, tag?: string): () => boolean {
      const subscription: Subscription = { listener, tag }
      subscriptions.add(subscription)
      if (latest !== undefined) deliver(subscription, latest)
      return () => subscriptions.delete(subscription)
    },

    /** Tells every watcher of `served` when its tag is not the latest's; false when it is (nothing changed). */
    publish (served: Served): boolean {
      const tag = outcomeTag(served.outcome)
      if (tag === latest?.tag) return false
      const change: WatchChange = { type: 'change', outcome: served.outcome, result: served.result, tier: served.tier, tag }
      latest = change
      rounds.push({ change, watchers: [...subscriptions], next: 0 })
      // an earlier change still on its way goes first (the next chunk then takes this one on)
      if (!running && !scheduled) run()
      return true
    },

    /** Tells every watcher that watching is over, and forgets them. */
    close (): void {
      const all = [...subscriptions]
      subscriptions.clear()
      rounds.length = 0
      for (const subscription of all) subscription.listener({ type: 'closed' })
    }
  }
}

export type FanOut = ReturnType<typeof createFanOut>
