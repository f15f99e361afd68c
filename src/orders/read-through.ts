import { ERROR_KINDS, isAppError } from '../errors.js'
import type { VendorLog } from '../upstream/client.js'
import { errorOutcome, isFresh, orderOutcome, type Freshness, type Outcome, type Served } from './outcome.js'
import type { OutcomeStore } from './outcome-store.js'
import type { Order } from './schema.js'

export type LoadOrder = (id: number, machineNo: string, log: VendorLog) => Promise<Order>

export interface ReadOptions {
  /** ask the vendor even when a fresh outcome is kept (a delivery callback said it changed); still one call per key at a time */
  refresh?: boolean
}

export interface ReadThroughOptions {
  store: OutcomeStore
  /** how long outcomes stay fresh, and CACHE_STALE_MS: how long an order is kept after, for stale-if-error */
  rules: Freshness & { staleMs: number }
  load: LoadOrder
  now: () => number
}

/**
 * Outcomes by (order id, machine): never by order id alone, so one machine's order is never
 * served for another. A fresh outcome is served from the store; otherwise one vendor call per
 * key at a time, whose outcome (or error) every request for that key waiting on it shares.
 * An order is kept CACHE_STALE_MS past its freshness and served when the vendor fails
 * (stale-if-error, RFC 5861's meaning); a kept error only while it is fresh.
 */
export function createReadThrough ({ store, rules, load, now }: ReadThroughOptions) {
  const inFlight = new Map<string, Promise<Outcome>>()

  function keepMs (outcome: Outcome): number {
    return outcome.kind === 'order' ? outcome.freshMs + rules.staleMs : outcome.freshMs
  }

  async function fetchOutcome (id: number, machineNo: string, log: VendorLog): Promise<Outcome> {
    try {
      return orderOutcome(await load(id, machineNo, log), now(), rules)
    } catch (error) {
      const kept = errorOutcome(error, now(), rules)
      if (kept === undefined) throw error
      return kept
    }
  }

  function startFetch (key: string, id: number, machineNo: string, log: VendorLog): Promise<Outcome> {
    const fetching = fetchOutcome(id, machineNo, log)
      .then((outcome) => { store.set(key, outcome, keepMs(outcome)); return outcome })
      .finally(() => { inFlight.delete(key) })
    inFlight.set(key, fetching)
    return fetching
  }

  return async function get (id: number, machineNo: string, log: VendorLog, options: ReadOptions = {}): Promise<Served> {
    const key = `${id}:${machineNo}`
    // the common case of polling: answered from the store
    const kept = options.refresh === true ? undefined : store.get(key)
    if (kept !== undefined && isFresh(kept, now())) return { outcome: kept, result: 'hit' }
    const joined = inFlight.get(key)
    try {
      if (joined !== undefined) return { outcome: await joined, result: 'coalesced' }
      return { outcome: await startFetch(key, id, machineNo, log), result: 'miss' }
    } catch (error) {
      // still kept means still within CACHE_STALE_MS of its freshness
      const stale = store.get(key)
      if (!isAppError(error) || !ERROR_KINDS[error.code].staleIfError || stale?.kind !== 'order') throw error
      return { outcome: stale, result: 'stale' }
    }
  }
}

export type ReadThrough = ReturnType<typeof createReadThrough>
