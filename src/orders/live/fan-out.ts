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

interface Subscription {
  listener: WatchListener
  /** the tag this watcher has; it is told only of others */
  tag: string | undefined
}

/**
 * The watchers of one key and the latest change they were told of. Each is told of every
 * outcome whose tag differs from the one it has, a newcomer at once of the latest; the same
 * outcome again (a repeat poll, a change heard twice on the bus) is told to nobody.
 */
export function createFanOut () {
  const subscriptions = new Set<Subscription>()
  let latest: WatchChange | undefined

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
      for (const subscription of [...subscriptions]) deliver(subscription, change)
      return true
    },

    /** Tells every watcher that watching is over, and forgets them. */
    close (): void {
      const all = [...subscriptions]
      subscriptions.clear()
      for (const subscription of all) subscription.listener({ type: 'closed' })
    }
  }
}

export type FanOut = ReturnType<typeof createFanOut>
