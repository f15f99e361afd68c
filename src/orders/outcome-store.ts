import type { TieredOutcome, Outcome } from './outcome.js'

/** Where outcomes are kept between requests, by key: this process's memory, or a store replicas share behind it (src/shared-state/). */
export interface OutcomeStore {
  /** the outcome kept under key and the tier that kept it; undefined when there is none or its time is up */
  get: (key: string) => TieredOutcome | undefined | Promise<TieredOutcome | undefined>
  /** keeps the outcome under key for keepMs at most (less when the store needs the room) */
  set: (key: string, outcome: Outcome, keepMs: number) => void | Promise<void>
}
