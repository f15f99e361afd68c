import type { Tracer } from '@opentelemetry/api'
import type { ResilienceConfig } from '../config/config.js'
import type { ErrorCode } from '../errors/catalogue.js'
import { createBreaker, type BreakerState } from './breaker.js'
import type { VendorClient, VendorLog } from './client.js'
import type { VendorEndpoint } from './endpoint.js'
import { createLimiter } from './limiter.js'
import { createRetryBudget, withRetries } from './retry.js'

export interface ResilienceEvents {
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
}

export interface ResilientVendor {
  /** one call of `endpoint` with `params`, however many attempts it takes, logged on `log` */
  call: <P, R>(endpoint: VendorEndpoint<P, R>, params: P, log: VendorLog) => Promise<R>
  /** stops the breaker's timers; the client's pool belongs to whoever created the client */
  shutdown: () => void
}

/**
 * The vendor client behind the policies that protect both sides: retries (safe ones only,
 * of idempotent endpoints, within a budget and the deadline) around a concurrency cap around a
 * circuit breaker. Each attempt is a fresh client call, so it is signed with a fresh timestamp.
 */
export function createResilientVendor (client: VendorClient, options: ResilientVendorOptions): ResilientVendor {
  const now = options.now ?? Date.now
  const budget = createRetryBudget({ ratio: options.retry.budgetRatio, floor: options.retry.budgetFloor, windowMs: 10_000, now })
  const breaker = createBreaker({ ...options.breaker, now })
  const limiter = createLimiter({ concurrency: options.vendorConcurrency, maxQueue: options.vendorQueue, now, tracer: options.tracer })
  if (options.events?.onBreakerState) breaker.onStateChange(options.events.onBreakerState)
  if (options.log !== undefined) breaker.onStateChange(breakerStateLogger(options.log, options.breaker.cooldownMs))

  async function call<P, R> (endpoint: VendorEndpoint<P, R>, params: P, log: VendorLog): Promise<R> {
    const deadlineAt = now() + options.timeoutMs
    return await withRetries(async (attempt) => {
      // the call gets what is left of the deadline once a slot is free, not before the wait for one
      return await limiter.run((timeoutMs) => breaker.run(() => client.call(endpoint, params, { log, timeoutMs, attempt })), deadlineAt)
    }, {
      maxRetries: endpoint.idempotent ? options.retry.maxRetries : 0,
      baseDelayMs: options.retry.baseDelayMs,
      budget,
      deadlineAt,
      now,
      random: options.random,
      sleep: options.sleep,
      onRetry: (attempt, error) => {
        options.events?.onRetry?.()
        log.info({ vendor: { ...endpoint.logFields(params), retry: attempt, after: (error as Error).message } }, 'retrying vendor call')
      }
    })
  }

  return {
    call,
    shutdown: breaker.shutdown
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
