import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { AppError, ERROR_KINDS, isAppError, type ErrorCode } from '../../errors/catalogue.js'
import type { RedisLink } from './link.js'
import { fromStored, toStored } from './outcome-codec.js'
import type { Outcome, TieredOutcome } from '../../orders/outcome.js'
import type { Coalescing } from '../../orders/read-through.js'
import { runInThisProcess } from '../memory/coalescing.js'

/** The channel every replica hears every vendor call's outcome on (under the key prefix). */
export const OUTCOMES_CHANNEL = 'outcomes'

/** What a replica that asked the vendor tells the others: the outcome, or the error every waiter should answer with. */
type OutcomeMessage =
  | { key: string, outcome: Outcome }
  | { key: string, failure: { code: ErrorCode, detail: string, retryAfter?: number | undefined } }
  // it failed in a way not worth sharing: the waiters ask for themselves
  | { key: string, takeOver: true }

type Wake = OutcomeMessage | { takeOver: true } | { timedOut: true }

export interface RedisCoalescingOptions {
  link: RedisLink
  /** how long a replica may hold a key: its whole vendor deadline and the store's write; then another takes over */
  lockMs: number
  now: () => number
  /** told every outcome any replica got, this one included (memory tier, live tracking) */
  onOutcome?: (key: string, outcome: Outcome) => void
}

// deletes the lock only if it is still ours: it may have expired and been taken by another replica
const RELEASE = 'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end'

/**
 * One vendor call per key in the whole cluster. A replica that misses takes a lock in Redis
 * (SET NX PX) and asks the vendor; every other replica waits for the outcome it publishes on
 * OUTCOMES_CHANNEL, for no longer than the lock lives. If the holder dies, its lock expires and
 * a waiter takes over; nobody waits past lockMs from its first try. Whenever Redis fails, the
 * replica asks the vendor itself (still once per key in this process, read-through's map).
 */
export function createRedisCoalescing ({ link, lockMs, now, onOutcome }: RedisCoalescingOptions): Coalescing {
  const waiters = new Map<string, Set<(wake: Wake) => void>>()

  link.subscribe(OUTCOMES_CHANNEL, (message) => {
    const told = parseOutcomeMessage(message)
    if (told === undefined) return
    if ('outcome' in told) onOutcome?.(told.key, told.outcome)
    for (const wake of waiters.get(told.key) ?? []) wake(told)
  })
  // a message may never come now: everyone waiting asks for themselves
  link.onDown(() => {
    for (const set of waiters.values()) for (const wake of set) wake({ takeOver: true })
  })

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

  async function hold (key: string, lock: string, token: string, work: () => Promise<Outcome>): Promise<TieredOutcome> {
    // each message goes out before the lock is released, so a waiter never finds the lock free and nothing said
    try {
      const outcome = await work()
      await link.publish(OUTCOMES_CHANNEL, JSON.stringify({ key, outcome: toStored(outcome) }))
      return { outcome, tier: 'vendor' }
    } catch (error) {
      const failure = isAppError(error) ? { code: error.code, detail: error.detail, retryAfter: error.retryAfter } : undefined
      await link.publish(OUTCOMES_CHANNEL, JSON.stringify({ key, failure }))
      throw error
    } finally {
      await link.client.eval(RELEASE, 1, lock, token).catch((error: unknown) => { link.reportFailure(error) })
    }
  }

  return async function coalesce (key, work) {
    const deadline = now() + lockMs
    const lock = `lock:${key}`
    for (;;) {
      if (!link.isUp()) return await runInThisProcess(key, work)
      const wait = waitFor(key)
      const token = randomUUID()
      let ours: boolean
      let leftMs = 0
      try {
        ours = await link.client.set(lock, token, 'PX', lockMs, 'NX') === 'OK'
        // another replica is asking: its outcome comes on the channel, or its lock runs out (PTTL < 0: already gone)
        if (!ours) leftMs = await link.client.pttl(lock)
      } catch (error) {
        wait.cancel()
        link.reportFailure(error)
        return await runInThisProcess(key, work)
      }
      if (ours) {
        wait.cancel()
        return await hold(key, lock, token, work)
      }
      const woken = await wait.within(Math.min(Math.max(0, leftMs), deadline - now()))
      if ('outcome' in woken) return { outcome: woken.outcome, tier: 'redis' }
      if ('failure' in woken) throw new AppError(woken.failure.code, { detail: woken.failure.detail, retryAfter: woken.failure.retryAfter })
      if ('takeOver' in woken) return await runInThisProcess(key, work)
      // the lock ran out without a word: its holder died or stalled; take over unless the deadline passed
      if (now() >= deadline) throw new AppError('UPSTREAM_TIMEOUT', { detail: 'The replica asking the vendor for this order did not answer in time.' })
    }
  }
}

const ERROR_CODES = Object.keys(ERROR_KINDS) as [ErrorCode, ...ErrorCode[]]

const OutcomeMessageSchema = z.object({
  key: z.string(),
  outcome: z.unknown().optional(),
  failure: z.object({ code: z.enum(ERROR_CODES), detail: z.string(), retryAfter: z.number().optional() }).optional()
})

/** A message read back through its schema; undefined for anything else (another version of the service, say). */
function parseOutcomeMessage (message: string): OutcomeMessage | undefined {
  let parsed
  try {
    parsed = OutcomeMessageSchema.safeParse(JSON.parse(message))
  } catch {
    return undefined
  }
  if (!parsed.success) return undefined
  const { key, outcome, failure } = parsed.data
  if (outcome !== undefined) {
    const decoded = fromStored(outcome)
    return decoded === undefined ? undefined : { key, outcome: decoded }
  }
  return failure === undefined ? { key, takeOver: true } : { key, failure }
}
