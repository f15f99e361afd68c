import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { AppError, isAppError } from '../../errors/catalogue.js'
import { unrefTimers, type Clock } from '../../orders/live/clock.js'
import type { SharedLink } from './latency.js'
import { LEASE_MS, renewWhileHeld } from './lease-renewal.js'
import { openMessage, sealMessage } from './messages.js'
import { CLOCK_SKEW_MS, fromStored, toStored, type OutcomeLimits, type Read } from './outcome-codec.js'
import { commandFailed, keyFaultOf, type Reject, type RejectionReason } from './rejections.js'
import { sharedFailureError, SharedFailureSchema, toSharedFailure, type SharedFailure } from './shared-failure.js'
import type { Signer } from './signing.js'
import type { Outcome, TieredOutcome } from '../../orders/outcome.js'
import type { Coalescing } from '../../orders/read-through.js'
import { runInThisProcess } from '../memory/coalescing.js'

/** The channel every replica hears every vendor call's outcome on (under the key prefix). */
export const OUTCOMES_CHANNEL = 'outcomes'

/** What a replica that asked the vendor tells the others: the outcome, or the error every waiter should answer with (its code only). */
type OutcomeMessage =
  | { key: string, outcome: Outcome }
  | { key: string, failure: SharedFailure }
  // it failed in a way not worth sharing: the waiters ask for themselves
  | { key: string, takeOver: true }

type Wake = OutcomeMessage | { takeOver: true } | { timedOut: true }

export interface RedisCoalescingOptions {
  link: SharedLink
  /**
   * how long a replica may hold a key at most: its whole vendor deadline and the store's write,
   * its lease token's expiry; the lease itself lives LEASE_MS, renewed while the holder works
   */
  lockMs: number
  /** wall-clock milliseconds, as storedAt, lease tokens and messages' sentAt count them */
  now: () => number
  /** the holder's renewal timer (default: an unref'd setTimeout, which never keeps the process up) */
  timers?: Pick<Clock, 'setTimer' | 'clearTimer'>
  /** signs the lease tokens and the messages, and opens the others' */
  signer: Signer
  /** this replica's CACHE_* freshness and clock: what an outcome in a message may claim at most */
  limits: OutcomeLimits
  /** counts and logs what is not taken */
  reject: Reject
  /** told every outcome any replica got, this one included (memory tier, live tracking) */
  onOutcome?: (key: string, outcome: Outcome) => void
}

/**
 * The shortest wait for a lease held by another replica, however little its PTTL says is left:
 * a lease that answers 0 ms (or is taken back at once) is looked at again this much later at the
 * soonest, so a wait never spins on Redis.
 */
export const MIN_LEASE_WAIT_MS = 50

/**
 * Takes the lease when it is free (SET NX PX), or when what holds it cannot be a lease of this
 * fleet's: a key of another type, no TTL, or a TTL longer than a lease lives (ARGV[2]). Answers
 * {1, ''} taken, {1, 'wrongtype' | 'ttl'} taken over (the reason), or {0, PTTL, holder's token}.
 */
const ACQUIRE = `
if redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return {1, ''} end
local kind = redis.call('type', KEYS[1]).ok
local ttl = redis.call('pttl', KEYS[1])
if kind ~= 'string' or ttl < 0 or ttl > tonumber(ARGV[2]) then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if kind ~= 'string' then return {1, 'wrongtype'} end
  return {1, 'ttl'}
end
return {0, ttl, redis.call('get', KEYS[1])}
`

// takes over a lease whose token this fleet did not sign, if it still holds that token
const TAKE_OVER = `
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end
return 0
`

// deletes the lock only if it is still ours: it may have expired and been taken by another replica
const RELEASE = `
if redis.call('type', KEYS[1]).ok == 'string' and redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
`

type Lease = { ours: true } | { ours: false, leftMs: number }

/** A lease token this replica offers, and the expiry signed in it: the longest it may hold the lease. */
interface Ticket { token: string, expiresAt: number }

/**
 * One vendor call per key in the whole cluster. A replica that misses takes a lease in Redis
 * (ACQUIRE) for LEASE_MS, renews it every third of that while it asks the vendor
 * (lease-renewal.ts), and publishes the outcome on OUTCOMES_CHANNEL; every other replica waits
 * for it, each wait no longer than the lease has left and never less than MIN_LEASE_WAIT_MS,
 * then looks again: a renewed lease is waited for again, one look per lease or so. If the holder
 * dies its renewals stop, its lease expires within LEASE_MS and the next look takes it over.
 * Nobody waits past lockMs (and MIN_LEASE_WAIT_MS) from the first answer that the lease is held:
 * no lease seen in that answer lives so long, as none is renewed past its token's expiry. A lease
 * is a token signed for its key with that expiry (lockMs from its taking): a lock that is not one
 * (no TTL, a TTL longer than LEASE_MS, another type, a token this fleet did not sign or one past
 * its expiry) is taken over at once, counted and logged. Whenever Redis fails or turns slow, the
 * replica asks the vendor itself (still once per key in this process, read-through's map). The
 * holder's answer does not wait for its message or its release: they follow, in that order.
 */
export function createRedisCoalescing ({ link, lockMs, now, timers = unrefTimers, signer, limits, reject, onOutcome }: RedisCoalescingOptions): Coalescing {
  const waiters = new Map<string, Set<(wake: Wake) => void>>()
  // a lease never outlives its token, even with a vendor deadline shorter than LEASE_MS
  const leaseMs = Math.min(LEASE_MS, lockMs)

  link.subscribe(OUTCOMES_CHANNEL, (message) => {
    const told = readOutcomeMessage(message)
    if ('rejected' in told) return reject(told.rejected, 'outcomes message')
    if ('outcome' in told.value) onOutcome?.(told.value.key, told.value.outcome)
    for (const wake of waiters.get(told.value.key) ?? []) wake(told.value)
  })
  // a message may never come now: everyone waiting asks for themselves
  link.onDown(() => {
    for (const set of waiters.values()) for (const wake of set) wake({ takeOver: true })
  })

  /** A message read back through its schema, signed for the channel; an outcome in it checked against its key. */
  function readOutcomeMessage (message: string): Read<OutcomeMessage> {
    const read = openMessage(signer, OUTCOMES_CHANNEL, message, OutcomeMessageSchema, now())
    if ('rejected' in read) return read
    const { key, outcome, failure } = read.value
    if (outcome !== undefined) {
      const decoded = fromStored(outcome, key, limits)
      return 'rejected' in decoded ? decoded : { value: { key, outcome: decoded.value } }
    }
    return { value: failure === undefined ? { key, takeOver: true } : { key, failure } }
  }

  /** Registers before the lock is tried, so the holder's message can not slip by in between. */
  function waitFor (key: string) {
    let wake!: (wake: Wake) => void
    const woken = new Promise<Wake>((resolve) => { wake = resolve })
    const set = waiters.get(key) ?? new Set()
    waiters.set(key, set.add(wake))
    let timer: NodeJS.Timeout | undefined
    const cancel = (): void => {
      clearTimeout(timer)
      set.delete(wake)
      if (set.size === 0) waiters.delete(key)
    }
    return {
      cancel,
      async within (ms: number): Promise<Wake> {
        timer = setTimeout(() => { wake({ timedOut: true }) }, Math.max(0, ms))
        try { return await woken } finally { cancel() }
      }
    }
  }

  /** A new lease token for `lock`: random, with its expiry (lockMs on), signed for that lock. */
  function leaseToken (lock: string): Ticket {
    const expiresAt = now() + lockMs
    return { token: signer.seal(lock, `${randomUUID()}.${expiresAt}`), expiresAt }
  }

  /** Why a token held at `lock` is no lease of this fleet's; undefined when it is one. */
  function tokenProblem (lock: string, token: string): RejectionReason | undefined {
    const payload = signer.open(lock, token)
    if (payload === undefined) return 'signature'
    const expiresAt = Number(/^[0-9a-f-]{36}\.(\d+)$/.exec(payload)?.[1] ?? NaN)
    if (!Number.isSafeInteger(expiresAt)) return 'schema'
    if (expiresAt < now() - CLOCK_SKEW_MS) return 'expired'
    if (expiresAt > now() + lockMs + CLOCK_SKEW_MS) return 'future'
    return undefined
  }

  async function acquire (lock: string, token: string): Promise<Lease> {
    const [taken, left, held] = await link.timed('lease', () => link.client.eval(ACQUIRE, 1, lock, token, leaseMs)) as [number, number | string, string]
    if (taken === 1) {
      if (left === 'wrongtype' || left === 'ttl') reject(left, 'lease')
      return { ours: true }
    }
    const problem = tokenProblem(lock, held)
    if (problem === undefined) return { ours: false, leftMs: Number(left) }
    reject(problem, 'lease')
    const swapped = await link.timed('lease', () => link.client.eval(TAKE_OVER, 1, lock, held, token, leaseMs))
    // another replica replaced it meanwhile: its lease, looked at again shortly
    return swapped === 1 ? { ours: true } : { ours: false, leftMs: MIN_LEASE_WAIT_MS }
  }

  /** The outcome or the failure, told to every waiter, then the lease released; never rejects. */
  async function tellAndRelease (message: object, lock: string, token: string): Promise<void> {
    await link.publish(OUTCOMES_CHANNEL, sealMessage(signer, OUTCOMES_CHANNEL, message, now()))
    try {
      await link.timed('release', () => link.client.eval(RELEASE, 1, lock, token))
    } catch (error) {
      // a lease left behind, no longer renewed, expires within LEASE_MS
      if (keyFaultOf(error) === undefined) link.reportFailure(error)
    }
  }

  /** Asks the vendor under the lease `ticket` took, renewing it meanwhile; then tells and releases. */
  async function hold (key: string, lock: string, { token, expiresAt }: Ticket, work: () => Promise<Outcome>): Promise<TieredOutcome> {
    // the message goes out before the lease is released, so a waiter never finds it free and nothing said
    let message: object = { key }
    const stopRenewing = renewWhileHeld({ link, lock, token, expiresAt, leaseMs, now, timers })
    try {
      const outcome = await work()
      message = { key, outcome: toStored(key, outcome) }
      return { outcome, tier: 'vendor' }
    } catch (error) {
      const failure = isAppError(error) ? toSharedFailure(error) : undefined
      message = { key, failure }
      throw error
    } finally {
      stopRenewing()
      tellAndRelease(message, lock, token).catch(() => {})
    }
  }

  /**
   * Asks the vendor in this process alone (once per key here), and tells the other replicas the
   * outcome as a holder would, so their near caches hear of it: for a waiter that took over from
   * a holder who said nothing worth sharing, or when the lease could not be taken.
   */
  function askAndTell (key: string, work: () => Promise<Outcome>): Promise<TieredOutcome> {
    return runInThisProcess(key, async () => {
      const outcome = await work()
      if (link.isUp()) link.publish(OUTCOMES_CHANNEL, sealMessage(signer, OUTCOMES_CHANNEL, { key, outcome: toStored(key, outcome) }, now())).catch(() => {})
      return outcome
    })
  }

  return async function coalesce (key, work) {
    const lock = `lock:${key}`
    // counted from the first answer that another replica holds the lease: whatever lease that
    // answer saw runs out before it, even one taken while the question was on its way
    let deadline: number | undefined
    for (;;) {
      if (!link.isUp()) return await runInThisProcess(key, work)
      const wait = waitFor(key)
      const ticket = leaseToken(lock)
      let lease: Lease
      try {
        lease = await acquire(lock, ticket.token)
      } catch (error) {
        wait.cancel()
        commandFailed(link, reject, 'lease', error)
        return await askAndTell(key, work)
      }
      if (lease.ours) {
        wait.cancel()
        return await hold(key, lock, ticket, work)
      }
      deadline ??= now() + lockMs + MIN_LEASE_WAIT_MS
      // still held past the deadline: not the lease first seen (it has run out), a later holder's
      if (now() >= deadline) {
        wait.cancel()
        throw new AppError('UPSTREAM_TIMEOUT', { detail: 'The replica asking the vendor for this order did not answer in time.' })
      }
      // another replica is asking: its outcome comes on the channel, or its lease runs out (unless renewed meanwhile)
      const woken = await wait.within(Math.min(Math.max(MIN_LEASE_WAIT_MS, lease.leftMs), deadline - now()))
      if ('outcome' in woken) return { outcome: woken.outcome, tier: 'redis' }
      if ('failure' in woken) throw sharedFailureError(woken.failure)
      if ('takeOver' in woken) return await askAndTell(key, work)
      // the lease's time is up without a word: renewed by a live holder (wait again), or run out (take it over)
    }
  }
}

const OutcomeMessageSchema = z.object({
  key: z.string(),
  outcome: z.unknown().optional(),
  failure: SharedFailureSchema.optional()
})
