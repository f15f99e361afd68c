import { z } from 'zod'
import { AppError, ERROR_KINDS, type ErrorCode } from '../../errors/catalogue.js'
import { orderIdOfKey } from '../../orders/cache-key.js'
import { errorOutcome, orderOutcome, type Freshness, type Outcome } from '../../orders/outcome.js'
import { OrderSchema } from '../../orders/schema.js'
import type { RejectionReason } from './rejections.js'
import { ownWording } from './shared-failure.js'

/** The error kinds an outcome may keep (ERROR_KINDS' `cache`): the only codes a stored error may have. */
const KEPT_CODES = (Object.keys(ERROR_KINDS) as ErrorCode[]).filter((code) => ERROR_KINDS[code].cache !== undefined) as [ErrorCode, ...ErrorCode[]]

/**
 * How far ahead of this replica's clock another replica's may be: a storedAt (or a message's
 * sentAt) later than now by more than this was not written by a replica of this fleet, or its
 * clock is wrong. Within it, storedAt is taken as now, so nothing is fresh longer than its CACHE_*.
 */
export const CLOCK_SKEW_MS = 2000

const Times = { storedAt: z.number().int().nonnegative(), freshMs: z.number().int().nonnegative() }

/**
 * An outcome as Redis holds it: the key it belongs under, our normalized order, or the kept
 * error's catalogue code and vendor code, never words: a reader answers a kept error in its own
 * (a `detail` that a replica of an earlier version wrote is ignored, not served).
 */
const StoredOutcome = z.discriminatedUnion('kind', [
  z.object({ key: z.string(), kind: z.literal('order'), order: OrderSchema, ...Times }),
  z.object({ key: z.string(), kind: z.literal('error'), code: z.enum(KEPT_CODES), vendorCode: z.number().int().min(0).max(2 ** 31 - 1).optional(), ...Times })
])

/** What Redis held, taken; or why not. */
export type Read<T> = { value: T } | { rejected: RejectionReason }

/** What this replica's own settings allow an outcome read from Redis: its CACHE_* freshness, at most, on its clock. */
export interface OutcomeLimits {
  freshness: Freshness
  now: () => number
}

/** The outcome as plain JSON data, with the key it is kept under: the order as it is, a kept error as its codes. */
export function toStored (key: string, outcome: Outcome): object {
  if (outcome.kind === 'order') return { key, ...outcome }
  const { error, storedAt, freshMs } = outcome
  return { key, kind: 'error', code: error.code, vendorCode: error.vendorCode, storedAt, freshMs }
}

export function encodeOutcome (key: string, outcome: Outcome): string {
  return JSON.stringify(toStored(key, outcome))
}

export function decodeOutcome (text: string, key: string, limits: OutcomeLimits): Read<Outcome> {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { rejected: 'schema' }
  }
  return fromStored(json, key, limits)
}

/**
 * Stored data read back as the outcome kept under `key`, through its schema (another version
 * wrote it, or garbage: `schema`). It must be for that key, and an order for that order id
 * (`mismatch`); it must not be stored later than now beyond the clock-skew allowance (`future`).
 * Its freshness is at most what this replica's own settings give that kind of outcome.
 */
export function fromStored (json: unknown, key: string, { freshness, now }: OutcomeLimits): Read<Outcome> {
  const parsed = StoredOutcome.safeParse(json)
  if (!parsed.success) return { rejected: 'schema' }
  const stored = parsed.data
  if (stored.key !== key || (stored.kind === 'order' && stored.order.id !== orderIdOfKey(key))) return { rejected: 'mismatch' }
  const at = now()
  if (stored.storedAt > at + CLOCK_SKEW_MS) return { rejected: 'future' }
  const storedAt = Math.min(stored.storedAt, at)
  // what this replica would have kept, had it asked the vendor itself at storedAt
  const own = stored.kind === 'order'
    ? orderOutcome(stored.order, storedAt, freshness)
    : errorOutcome(new AppError(stored.code, { detail: ownWording(stored.code), vendorCode: stored.vendorCode }), storedAt, freshness)!
  return { value: { ...own, freshMs: Math.min(stored.freshMs, own.freshMs) } }
}
