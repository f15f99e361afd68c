import { setTimeout as wait } from 'node:timers/promises'
import { AppError, ERROR_KINDS } from '../errors/catalogue.js'

/** Gateways answer these in the vendor's place when it is down or slow; their page is not the vendor's answer. */
const GATEWAY_STATUSES = [502, 503, 504]

/**
 * Retries only what is safe and useful, as the error's kind says (src/errors/catalogue.ts): a connection
 * that failed before any answer, or a gateway answering with something that is not the vendor's
 * envelope. Whether an answer had started is the transport's fact, carried as `upstreamStatus`.
 */
export function isRetryable (error: unknown): boolean {
  if (!(error instanceof AppError)) return false
  const when = ERROR_KINDS[error.code].retry
  if (when === 'beforeAnswer') return error.upstreamStatus === undefined
  if (when === 'gatewayAnswer') return GATEWAY_STATUSES.includes(error.upstreamStatus ?? 0)
  return false
}

export interface RetryBudgetOptions {
  /** retries may add at most this share of the first attempts in the window */
  ratio: number
  /** retries always allowed per window, so a quiet service can still retry */
  floor: number
  windowMs: number
  now: () => number
}

export interface RetryBudget {
  recordRequest: () => void
  /** takes one retry from the budget; false when it is spent */
  tryAcquire: () => boolean
}

/**
 * A sliding-window retry budget (after Finagle's): over the last `windowMs`, retries stay under
 * max(floor, ratio × requests), so an outage never multiplies the load on the vendor.
 * Ten buckets keep it O(1) in memory whatever the traffic.
 */
export function createRetryBudget ({ ratio, floor, windowMs, now }: RetryBudgetOptions): RetryBudget {
  const BUCKETS = 10
  const bucketMs = windowMs / BUCKETS
  const requests = new Array<number>(BUCKETS).fill(0)
  const retries = new Array<number>(BUCKETS).fill(0)
  let current = Math.floor(now() / bucketMs)

  function advance (): number {
    const bucket = Math.floor(now() / bucketMs)
    // clear the buckets that slid out of the window since the last call
    for (let b = current + 1; b <= bucket && b <= current + BUCKETS; b++) {
      requests[b % BUCKETS] = 0
      retries[b % BUCKETS] = 0
    }
    current = Math.max(current, bucket)
    return current % BUCKETS
  }
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)

  return {
    recordRequest () { requests[advance()]! += 1 },
    tryAcquire () {
      const index = advance()
      if (sum(retries) >= Math.max(floor, ratio * sum(requests))) return false
      retries[index]! += 1
      return true
    }
  }
}

export interface RetryOptions {
  maxRetries: number
  baseDelayMs: number
  budget: RetryBudget
  /** the request's total deadline, in `now()` time: no retry starts that could not finish before it */
  deadlineAt: number
  now: () => number
  random?: () => number
  sleep?: (ms: number) => Promise<void>
  onRetry?: (attempt: number, error: unknown) => void
}

/**
 * Runs `attempt` until it succeeds, fails for good, or retries run out (count, budget or
 * deadline). Backoff is exponential with full jitter: a random wait in [0, base × 2^n).
 */
export async function withRetries<T> (attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const random = options.random ?? Math.random
  const sleep = options.sleep ?? wait
  options.budget.recordRequest()
  for (let n = 0; ; n++) {
    try {
      return await attempt(n)
    } catch (error) {
      if (n >= options.maxRetries || !isRetryable(error)) throw error
      const delayMs = random() * options.baseDelayMs * 2 ** n
      if (options.now() + delayMs >= options.deadlineAt || !options.budget.tryAcquire()) throw error
      options.onRetry?.(n + 1, error)
      if (delayMs >= 1) await sleep(delayMs)
      // a timer that fired late must not start an attempt with no time left: the last failure is the answer
      if (options.now() >= options.deadlineAt) throw error
    }
  }
}
