import { setTimeout as wait } from 'node:timers/promises'
import type { Tracer } from '@opentelemetry/api'
import type { ResilienceConfig } from '../config/config.js'
import type { ErrorCode } from '../errors/catalogue.js'
import { createBreaker, type BreakerState } from './breaker.js'
import { createCallBudget, type CallBudgetEvents, type CallTicket, type CallTokens } from './call-budget.js'
import type { VendorClient, VendorLog } from './client.js'
import type { VendorEndpoint } from './endpoint.js'
import { createLimiter } from './limiter.js'
import { createRetryBudget, withRetries } from './retry.js'

export interface ResilienceEvents extends CallBudgetEvents {
  onRetry?: () => void
  onBreakerState?: (state: BreakerState, faultCode?: ErrorCode) => void
}

export interface ResilientVendorOptions extends Pick<ResilienceConfig, 'retry' | 'breaker' | 'vendorConcurrency' | 'vendorQueue'> {
  /** total deadline of one call: queueing, every attempt and the backoff between them */
  timeoutMs: number
  now?: () => number
  random?: () => number
  /** waits out a retry's backoff (tests pass a fake clock's) */
  sleep?: (ms: number) => Promise<void>
  events?: ResilienceEvents
  /** where the wait for a vendor-call slot is traced (none: not traced) */
  tracer?: Tracer | undefined
  /** where each change of the breaker's state is logged, once (default: nowhere) */
  log?: Pick<VendorLog, 'info' | 'warn'> | undefined
  /** where VENDOR_MAX_CALLS_PER_SECOND's calls are counted (src/shared-state/: this process, or the fleet); none: no budget */
  callTokens?: CallTokens | undefined
}

export interface ResilientVendor {
  /** one call of `endpoint` with `params`, however many attempts it takes, logged on `log`; `ticket` says how urgent it is */
  call: <P, R>(endpoint: VendorEndpoint<P, R>, params: P, log: VendorLog, ticket?: CallTicket) => Promise<R>
  /** stops the breaker's timers; the client's pool belongs to whoever created the client */
  shutdown: () => void
}

/**
 * The vendor client behind the policies that protect both sides: retries (safe ones only,
 * of idempotent endpoints, within a budget and the deadline) around the call budget
 * (VENDOR_MAX_CALLS_PER_SECOND, asked before every attempt) around a concurrency cap around a
 * circuit breaker. Each attempt is a fresh client call, so it is signed with a fresh timestamp.
 * This is the one place every vendor call of every endpoint passes, so the budget is here.
 */
export function createResilientVendor (client: VendorClient, options: ResilientVendorOptions): ResilientVendor {
  const now = options.now ?? Date.now
  const budget = createRetryBudget({ ratio: options.retry.budgetRatio, floor: options.retry.budgetFloor, windowMs: 10_000, now })
  const breaker = createBreaker({ ...options.breaker, now })
  const limiter = createLimiter({ concurrency: options.vendorConcurrency, maxQueue: options.vendorQueue, now, tracer: options.tracer })
  if (options.events?.onBreakerState) breaker.onStateChange(options.events.onBreakerState)
  if (options.log !== undefined) breaker.onStateChange(breakerStateLogger(options.log, options.breaker.cooldownMs))
  const sleep = options.sleep ?? wait
  const callBudget = options.callTokens === undefined
    ? undefined
    : createCallBudget({ tokens: options.callTokens, now, sleep, events: options.events })
  // an open breaker refuses the call without the vendor: it takes nothing from the budget
  const admit = callBudget === undefined
    ? async () => {}
    : async (ticket: CallTicket, deadlineAt: number, retry: boolean) => {
      if (!breaker.isOpen()) await callBudget.admit(ticket.priority ?? 'request', deadlineAt, retry)
    }

  async function call<P, R> (endpoint: VendorEndpoint<P, R>, params: P, log: VendorLog, ticket: CallTicket = {}): Promise<R> {
    const deadlineAt = now() + options.timeoutMs
    // the first attempt's call is taken before the retries count it as a request: a deferred poll was never one
    await admit(ticket, deadlineAt, false)
    ticket.onAdmitted?.()
    let lastFailure: unknown
    try {
      return await withRetries(async (attempt) => {
        if (attempt > 0) {
          // a retry the budget has no call for now is not made: the failure it would have retried is the answer
          try { await admit(ticket, deadlineAt, true) } catch { throw new RetryNotAdmitted(lastFailure) }
        }
        // the call gets what is left of the deadline once a slot is free, not before the wait for one
        return await limiter.run((timeoutMs) => breaker.run(() => client.call(endpoint, params, { log, timeoutMs, attempt })), deadlineAt)
      }, {
        maxRetries: endpoint.idempotent ? options.retry.maxRetries : 0,
        baseDelayMs: options.retry.baseDelayMs,
        budget,
        deadlineAt,
        now,
        random: options.random,
        sleep,
        onRetry: (attempt, error) => {
          lastFailure = error
          options.events?.onRetry?.()
          log.info({ vendor: { ...endpoint.logFields(params), retry: attempt, after: (error as Error).message } }, 'retrying vendor call')
        }
      })
    } catch (error) {
      throw error instanceof RetryNotAdmitted ? error.failure : error
    }
  }

  return {
    call,
    shutdown: breaker.shutdown
  }
}

/** A retry the budget refused: not retried itself (not an AppError), and unwrapped to the failure before it. */
class RetryNotAdmitted extends Error {
  constructor (readonly failure: unknown) {
    super('retry not admitted by the vendor call budget')
  }
}

/** One line per change of the breaker's state: an operator sees when calls to the vendor stop and resume. */
function breakerStateLogger (log: Pick<VendorLog, 'info' | 'warn'>, cooldownMs: number) {
  return (state: BreakerState, faultCode?: ErrorCode): void => {
    if (state === 'open') {
      log.warn({ breaker: 'open', code: faultCode, cooldownMs }, 'vendor circuit breaker open: vendor calls are answered 503 UNAVAILABLE without calling the vendor until a probe succeeds')
    } else if (state === 'halfOpen') {
      log.info({ breaker: 'halfOpen' }, 'vendor circuit breaker half-open: the next vendor call probes the vendor')
    } else {
      log.info({ breaker: 'closed' }, 'vendor circuit breaker closed: vendor calls resume')
    }
  }
}
