import type { Kept, Outcome } from './outcome.js'

/** Where outcomes are kept between requests, by key: this process's memory, or Redis in front of it (shared-state/redis/outcome-store.ts). */
export interface OutcomeStore {
  /** the outcome kept under key and the tier that kept it; undefined when there is none or its time is up */
  get: (key: string) => Kept | undefined | Promise<Kept | undefined>
  /** keeps the outcome under key for keepMs at most (less when the store needs the room) */
  set: (key: string, outcome: Outcome, keepMs: number) => void | Promise<void>
}
