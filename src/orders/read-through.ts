import { ERROR_KINDS, isAppError } from '../errors/catalogue.js'
import { CallDeferred, type CallPriority, type CallTicket } from '../upstream/call-budget.js'
import type { VendorLog } from '../upstream/client.js'
import { orderKey } from './cache-key.js'
import type { ChangeMarks } from './change-marks.js'
import { errorOutcome, isFresh, keepMs, orderOutcome, type Freshness, type Outcome, type Served, type TieredOutcome } from './outcome.js'
import type { OutcomeStore } from './outcome-store.js'
import type { Order } from './schema.js'

/** One vendor call for the order; `ticket` says how urgent it is to the vendor call budget. */
export type LoadOrder = (id: number, machineNo: string, log: VendorLog, ticket?: CallTicket) => Promise<Order>

/**
 * Runs the work that asks the vendor for one key, or, where another replica is already doing
 * it, waits for that outcome instead. In one process alone it just runs the work (src/shared-state/).
 */
export type Coalescing = (key: string, work: () => Promise<Outcome>) => Promise<TieredOutcome>

export interface ReadOptions {
  /**
   * ask the vendor even when a fresh outcome is kept (a delivery callback said it changed); still
   * one call per key at a time, and none within REFRESH_INTERVAL_MS of the kept outcome's fetch:
   * that refresh is put off (CallDeferred) until then
   */
  refresh?: boolean
  /** how urgent a vendor call for it is (default `request`): a watcher's poll is `background`, its refresh after a wake `wake` */
  priority?: CallPriority
  /** told once the vendor call this lookup makes got past the budget; not told of a hit or a call shared with another lookup */
  onAdmitted?: () => void
  /**
   * runs the vendor call this lookup starts (not a hit, nor a wait for another lookup's call):
   * a traced lookup's, in its trace context (default: as it is)
   */
  enter?: <T>(work: () => Promise<T>) => Promise<T>
}

export interface ReadThroughOptions {
  store: OutcomeStore
  /** how long outcomes stay fresh, and CACHE_STALE_MS: how long an order is kept after, for stale-if-error */
  rules: Freshness & { staleMs: number }
  load: LoadOrder
  now: () => number
  /** one vendor call per key across replicas; read-through itself makes it one per key in this process */
  coalescing: Coalescing
  /** the orders the vendor said changed: what was kept from before is not fresh (default: none) */
  changes?: ChangeMarks | undefined
}

/**
 * The shortest time between two forced refreshes of one key: the kept outcome says when it was
 * fetched, and with Redis it is the fleet's, so a delivery callback that every replica hears
 * makes one vendor call per order per this interval for the whole fleet, not one per replica.
 */
export const REFRESH_INTERVAL_MS = 250

/**
 * Outcomes by (order id, machine): never by order id alone, so one machine's order is never
 * served for another. A fresh outcome is served from the store; otherwise one vendor call per
 * key at a time, whose outcome (or error) every request for that key waiting on it shares.
 * An order is kept CACHE_STALE_MS past its freshness and served when the vendor fails
 * (stale-if-error, RFC 5861's meaning); a kept error only while it is fresh.
 */
export function createReadThrough ({ store, rules, load, now, coalescing, changes }: ReadThroughOptions) {
  const inFlight = new Map<string, Promise<TieredOutcome>>()

  async function fetchOutcome (key: string, id: number, machineNo: string, log: VendorLog, ticket: CallTicket): Promise<Outcome> {
    let outcome: Outcome
    try {
      outcome = orderOutcome(await load(id, machineNo, log, ticket), now(), rules)
    } catch (error) {
      const kept = errorOutcome(error, now(), rules)
      if (kept === undefined) throw error
      outcome = kept
    }
    await store.set(key, outcome, keepMs(outcome, rules.staleMs))
    return outcome
  }

  function startFetch (key: string, id: number, machineNo: string, log: VendorLog, ticket: CallTicket, enter: ReadOptions['enter']): Promise<TieredOutcome> {
    const fetch = (): Promise<TieredOutcome> => coalescing(key, () => fetchOutcome(key, id, machineNo, log, ticket))
    const fetching = (enter === undefined ? fetch() : enter(fetch))
      .finally(() => { inFlight.delete(key) })
    inFlight.set(key, fetching)
    return fetching
  }

  return async function get (id: number, machineNo: string, log: VendorLog, options: ReadOptions = {}): Promise<Served> {
    const key = orderKey(id, machineNo)
    // the common case of polling: answered from the store
    const kept = await store.get(key)
    if (options.refresh === true) {
      // fetched just now, here or by another replica: the refresh waits for the interval, then asks (what changed meanwhile is in that answer)
      const age = kept === undefined ? Number.POSITIVE_INFINITY : now() - kept.outcome.storedAt
      if (age < REFRESH_INTERVAL_MS) throw new CallDeferred(REFRESH_INTERVAL_MS - age)
    } else if (kept !== undefined && isFresh(kept.outcome, now()) && changes?.changedSince(id, kept.outcome.storedAt) !== true) {
      return { outcome: kept.outcome, result: 'hit', tier: kept.tier }
    }
    const joined = inFlight.get(key)
    try {
      if (joined !== undefined) {
        try {
          return { ...await joined, result: 'coalesced' }
        } catch (error) {
          // the budget put off the background poll this lookup joined: a request or a wake-up asks for itself, ahead of it
          if (error instanceof CallDeferred && (options.priority ?? 'request') !== 'background') return await get(id, machineNo, log, options)
          throw error
        }
      }
      const fetched = await startFetch(key, id, machineNo, log, { priority: options.priority, onAdmitted: options.onAdmitted }, options.enter)
      // the outcome of another replica's call is this request's coalescing, not its miss
      return { ...fetched, result: fetched.tier === 'vendor' ? 'miss' : 'coalesced' }
    } catch (error) {
      // still kept means still within CACHE_STALE_MS of its freshness
      const stale = await store.get(key)
      if (!isAppError(error) || !ERROR_KINDS[error.code].staleIfError || stale?.outcome.kind !== 'order') throw error
      return { outcome: stale.outcome, result: 'stale', tier: stale.tier }
    }
  }
}

export type ReadThrough = ReturnType<typeof createReadThrough>
