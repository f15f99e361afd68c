import { AppError } from '../errors/catalogue.js'

/**
 * How urgent a vendor call is. A client's request and a delivery callback's wake-up come before
 * a watcher's background poll: they may take the calls the budget keeps back, and while one of
 * them waits for the budget, no background poll gets a call in this process.
 */
export type CallPriority = 'request' | 'wake' | 'background'

export const CALL_PRIORITIES = ['request', 'wake', 'background'] as const satisfies readonly CallPriority[]

/** What one vendor call carries down the call path besides its endpoint and parameters. */
export interface CallTicket {
  /** default `request` */
  priority?: CallPriority | undefined
  /** told once the call got past the budget (before it waits for a limiter slot); whoever queues polls starts the next one then */
  onAdmitted?: (() => void) | undefined
}

/**
 * A wake-up or a background poll put off because the budget had no call left for it: ask again
 * in `retryInMs`. Not an AppError: no client is ever answered with it, and coalescing across
 * replicas does not share it (the waiters ask for themselves).
 */
export class CallDeferred extends Error {
  constructor (readonly retryInMs: number) {
    super(`vendor call budget spent: ask again in ${retryInMs} ms`)
    this.name = 'CallDeferred'
  }
}

/** The token bucket a budget of VENDOR_MAX_CALLS_PER_SECOND is. */
export interface CallBudgetLimits {
  /** calls per second, on average over any stretch of time */
  perSecond: number
  /** the most calls at once after a quiet spell (the bucket's size): in any T seconds, at most burst + perSecond × T */
  burst: number
  /** calls a background poll must leave in the bucket, for requests and wake-ups */
  reserve: number
}

/**
 * The bucket of a budget of `perSecond` calls: half a second's calls at most at once, so no
 * second ever sees more than 1.5 × perSecond; of those, half kept back for requests and
 * wake-ups, so one arriving while background polls use up the budget is called at once.
 */
export function budgetLimits (perSecond: number): CallBudgetLimits {
  const burst = Math.max(1, Math.ceil(perSecond / 2))
  return { perSecond, burst, reserve: Math.floor(burst / 2) }
}

/**
 * Where the budget's calls are counted: this process's memory, or one bucket in Redis for the
 * whole fleet (src/shared-state/ implements it).
 */
export interface CallTokens {
  /** takes one call: 0 when taken, else the ms until one may be there; a background take leaves the reserve in the bucket */
  take: (background: boolean) => Promise<number>
}

export interface CallBudgetEvents {
  /** a wake-up or background poll was put off, to be asked again later */
  onDeferred?: (priority: CallPriority) => void
  /** a call was not made and will not be: a request that found no call within its wait, or a retry */
  onRefused?: (priority: CallPriority) => void
}

export interface CallBudgetOptions {
  tokens: CallTokens
  now: () => number
  /** waits for the next call (tests pass a fake clock's) */
  sleep: (ms: number) => Promise<void>
  /** the longest a request waits for a call (default MAX_REQUEST_WAIT_MS), and never more than half of what is left of its deadline */
  maxWaitMs?: number | undefined
  events?: CallBudgetEvents | undefined
}

export interface CallBudget {
  /**
   * Resolves once a call of this priority may go to the vendor. A request waits for one briefly
   * within its deadline, then fails with 503 UPSTREAM_BUDGET_SPENT; a wake-up or a background poll
   * never waits: CallDeferred says when to ask again. A retry takes a call only if one is there
   * now, else UPSTREAM_BUDGET_SPENT (the call path answers with the failure it would have retried).
   */
  admit: (priority: CallPriority, deadlineAt: number, retry?: boolean) => Promise<void>
}

/** A request waits at most this long for a call: about one CACHE_FRESH_MS, never the whole deadline. */
export const MAX_REQUEST_WAIT_MS = 1000

/**
 * VENDOR_MAX_CALLS_PER_SECOND in front of every vendor call (src/upstream/resilient.ts asks it
 * before each attempt, retries included). Requests and wake-ups take from the whole bucket;
 * background polls only above its reserve, and not at all while a request or wake-up of this
 * process is waiting for a call. A background poll that was refused is followed by none other
 * until the bucket may have one again, so a queue of deferred polls costs one look at the bucket,
 * not one per poll.
 */
export function createCallBudget ({ tokens, now, sleep, maxWaitMs = MAX_REQUEST_WAIT_MS, events }: CallBudgetOptions): CallBudget {
  // no background take before this: the bucket said so, or a request or wake-up waits for the next call
  let backgroundPausedUntil = -Infinity

  function deferred (priority: CallPriority, retryInMs: number): CallDeferred {
    events?.onDeferred?.(priority)
    return new CallDeferred(retryInMs)
  }

  function refused (priority: CallPriority): AppError {
    events?.onRefused?.(priority)
    return new AppError('UPSTREAM_BUDGET_SPENT', {
      detail: 'VENDOR_MAX_CALLS_PER_SECOND had no vendor call left for this request in time; the vendor was not called. Try again shortly.'
    })
  }

  /** The next call, for a request or wake-up: background polls yield to it until just after it is due. */
  function yieldTo (retryInMs: number): void {
    backgroundPausedUntil = Math.max(backgroundPausedUntil, now() + retryInMs + 1)
  }

  async function admitBackground (retry: boolean): Promise<void> {
    const pausedForMs = backgroundPausedUntil - now()
    if (pausedForMs > 0) throw retry ? refused('background') : deferred('background', pausedForMs)
    const retryInMs = await tokens.take(true)
    if (retryInMs === 0) return
    backgroundPausedUntil = Math.max(backgroundPausedUntil, now() + retryInMs)
    throw retry ? refused('background') : deferred('background', retryInMs)
  }

  async function admitRequest (deadlineAt: number): Promise<void> {
    const waitUntil = now() + Math.min(maxWaitMs, (deadlineAt - now()) / 2)
    for (;;) {
      const retryInMs = await tokens.take(false)
      if (retryInMs === 0) return
      if (now() + retryInMs > waitUntil) throw refused('request')
      yieldTo(retryInMs)
      await sleep(retryInMs)
    }
  }

  return {
    async admit (priority, deadlineAt, retry = false) {
      if (priority === 'background') return await admitBackground(retry)
      if (priority === 'request' && !retry) return await admitRequest(deadlineAt)
      const retryInMs = await tokens.take(false)
      if (retryInMs === 0) return
      if (retry) throw refused(priority)
      yieldTo(retryInMs)
      throw deferred(priority, retryInMs)
    }
  }
}
