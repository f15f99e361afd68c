import type { Outcome } from '../outcome.js'

/**
 * What carries changes and wake-ups between the pollers and the watchers: in this process
 * (createMemoryWatchBus), or across replicas (a Redis bus: a change seen by any replica reaches the
 * watchers on all of them, a wake reaches every replica). Handlers may be called more than once
 * for one change; watchers drop what they already have by its tag.
 */
export interface WatchBus {
  publishChange: (key: string, outcome: Outcome) => void
  onChange: (handler: (key: string, outcome: Outcome) => void) => () => void
  publishWake: (orderId: number) => void
  onWake: (handler: (orderId: number) => void) => () => void
}
