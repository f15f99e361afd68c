import { ERROR_KINDS, isAppError, type AppError } from '../errors/catalogue.js'
import type { Order } from './schema.js'

/**
 * What one vendor call produced that is worth keeping: an order, or the vendor's answer that
 * there is none (ERROR_KINDS' `cache`), with when it was stored and how long it stays fresh.
 */
export type Outcome = OrderOutcome | ErrorOutcome

export interface OrderOutcome {
  kind: 'order'
  order: Order
  storedAt: number
  freshMs: number
}

export interface ErrorOutcome {
  kind: 'error'
  error: AppError
  storedAt: number
  freshMs: number
}

/** How a request got its outcome, in RFC 9211 Cache-Status terms; also the cache-events metric's `result`. */
export type CacheResult = 'hit' | 'miss' | 'coalesced' | 'stale' | 'bypass'

/** Where an outcome came from: this process's memory, the store replicas share, or a vendor call this process made. */
export type CacheTier = 'memory' | 'redis' | 'vendor'

/** An outcome with the tier it came from: what a store's get and a coalesced vendor call give back. */
export interface TieredOutcome {
  outcome: Outcome
  tier: CacheTier
}

/** An outcome as one request got it. */
export interface Served {
  outcome: Outcome
  result: CacheResult
  tier: CacheTier
}

/** How long each kind of outcome stays fresh (CACHE_FRESH_MS, CACHE_TERMINAL_MS, CACHE_NOT_FOUND_MS). */
export interface Freshness {
  freshMs: number
  terminalMs: number
  notFoundMs: number
}

export function orderOutcome (order: Order, storedAt: number, freshness: Freshness): OrderOutcome {
  return { kind: 'order', order, storedAt, freshMs: order.terminal ? freshness.terminalMs : freshness.freshMs }
}

/** The error as an outcome to keep, or undefined when the vendor must be asked again next time. */
export function errorOutcome (error: unknown, storedAt: number, freshness: Freshness): ErrorOutcome | undefined {
  if (!isAppError(error)) return undefined
  const cache = ERROR_KINDS[error.code].cache
  if (cache === undefined) return undefined
  return { kind: 'error', error, storedAt, freshMs: cache === 'terminal' ? freshness.terminalMs : freshness.notFoundMs }
}

/** How long a store keeps an outcome: an order CACHE_STALE_MS past its freshness (for stale-if-error), a kept error only while fresh. */
export function keepMs (outcome: Outcome, staleMs: number): number {
  return outcome.kind === 'order' ? outcome.freshMs + staleMs : outcome.freshMs
}

export function isFresh (outcome: Outcome, now: number): boolean {
  return now - outcome.storedAt < outcome.freshMs
}

/** An outcome that cannot change any more: a terminal order, or the vendor's answer that the order expired. */
export function isFinal (outcome: Outcome): boolean {
  return outcome.kind === 'order' ? outcome.order.terminal : ERROR_KINDS[outcome.error.code].cache === 'terminal'
}

/**
 * Whether `next` is to take the place of `kept` under one key: a later answer of the vendor's
 * does, an earlier one never (a message or a read that arrives after a newer outcome did); of
 * two as old, a final one stays (otherwise the one kept does, so its representation is reused).
 */
export function supersedes (next: Outcome, kept: Outcome): boolean {
  if (next.storedAt !== kept.storedAt) return next.storedAt > kept.storedAt
  return isFinal(next) && !isFinal(kept)
}
