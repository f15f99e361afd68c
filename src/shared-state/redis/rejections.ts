import type { LinkLog } from './link.js'

/**
 * Why something read from Redis was not taken (redis_rejected_total's `reason`):
 * - `signature`: not signed with the fleet's key, or for another key or channel (forged, moved, an older version's)
 * - `schema`: signed, but not the shape this version reads
 * - `mismatch`: an order or a key other than the one it is stored or sent under
 * - `future`: stored or sent later than now, beyond the clock-skew allowance; a client slot expiring later than a lease can
 * - `expired`: a message or a lease token older than it can be (a replay)
 * - `wrongtype`: a key holding another kind of value (a hash where a string belongs)
 * - `not_integer`: a rate-limit counter that is not a positive integer
 * - `ttl`: a lease, a rate-limit counter or a client's slots with no TTL, or one longer than it may last
 */
export const REJECTION_REASONS = ['size', 'signature', 'schema', 'mismatch', 'future', 'expired', 'wrongtype', 'not_integer', 'ttl'] as const
export type RejectionReason = typeof REJECTION_REASONS[number]

/** What was rejected, for the log line: never its value, never its key. */
export type Rejected = 'outcome' | 'outcomes message' | 'changes message' | 'wakes message' | 'lease' | 'rate-limit counter' | 'call budget' | 'client slots'

/** How often a rejection is logged at most; the metric counts every one. */
export const REJECTION_LOG_EVERY_MS = 60_000

export interface RejectionsOptions {
  log: LinkLog
  /** told of every rejection (the redis_rejected_total counter) */
  onRejected?: ((reason: RejectionReason) => void) | undefined
  now: () => number
  logEveryMs?: number
}

export type Reject = (reason: RejectionReason, what: Rejected) => void

/**
 * Counts what this replica would not take from Redis, and says so in the log at most once per
 * interval: the first rejection at once, later ones in the next line after the interval, with the
 * counts by reason since the last line. A flood of forged values costs the log one line a minute.
 */
export function createRejections ({ log, onRejected, now, logEveryMs = REJECTION_LOG_EVERY_MS }: RejectionsOptions): Reject {
  let loggedAt = -Infinity
  let since: Partial<Record<RejectionReason, number>> = {}
  return (reason, what) => {
    onRejected?.(reason)
    since[reason] = (since[reason] ?? 0) + 1
    if (now() - loggedAt < logEveryMs) return
    loggedAt = now()
    log.warn({ redis: 'rejected', reason, rejected: what, since }, 'Redis held something this replica did not write or cannot use: taken as absent (logged at most once a minute; redis_rejected_total counts each)')
    since = {}
  }
}

/**
 * A command Redis answered with an error about one key's contents, not about Redis: the key holds
 * the wrong kind of value, or a counter is not an integer. Such a key is a miss and repaired by the
 * next write; it never makes the link count as down. Undefined for every other failure.
 */
export function keyFaultOf (error: unknown): 'wrongtype' | 'not_integer' | undefined {
  if (!(error instanceof Error) || error.name !== 'ReplyError') return undefined
  if (error.message.startsWith('WRONGTYPE')) return 'wrongtype'
  if (/value is not an integer|increment or decrement would overflow/.test(error.message)) return 'not_integer'
  return undefined
}

/**
 * The one way a failed command is handled: a key fault (keyFaultOf) is that key's problem,
 * counted and logged as `what`; anything else is Redis's, and takes the link down.
 */
export function commandFailed (link: { reportFailure: (error: unknown) => void }, reject: Reject, what: Rejected, error: unknown): void {
  const fault = keyFaultOf(error)
  if (fault === undefined) link.reportFailure(error)
  else reject(fault, what)
}
