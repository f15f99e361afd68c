import type { Tracer } from '@opentelemetry/api'
import type { ResilienceConfig } from '../config/config.js'
import { createBreaker, type BreakerState } from './breaker.js'
import type { VendorClient, VendorLog } from './client.js'
import { createLimiter } from './limiter.js'
import { createRetryBudget, withRetries } from './retry.js'
import type { VendorOrder } from './endpoints/order-query.js'

export interface ResilienceEvents {
  onRetry?: () => void
  onBreakerState?: (state: BreakerState) => void
}

export interface ResilientVendorOptions extends Pick<ResilienceConfig, 'retry' | 'breaker' | 'vendorConcurrency' | 'vendorQueue'> {
  /** total deadline of one getOrder: queueing, every attempt and the backoff between them */
  timeoutMs: number
  now?: () => number
  random?: () => number
  /** waits out a retry's backoff (tests pass a fake clock's) */
  sleep?: (ms: number) => Promise<void>
  events?: ResilienceEvents
  /** where the wait for a vendor-call slot is traced (none: not traced) */
  tracer?: Tracer | undefined
}

export interface ResilientVendor {
  getOrder: (orderId: number, machineNo: string, log: VendorLog) => Promise<VendorOrder>
  /** stops the breaker's timers; the client's pool belongs to whoever created the client */
  shutdown: () => void
}

/**
 * The vendor client behind the policies that protect both sides: retries (safe ones only,
 * within a budget and the deadline) around a concurrency cap around a circuit breaker.
 * Each attempt is a fresh client call, so it is signed with a fresh timestamp.
 */
export function createResilientVendor (client: VendorClient, options: ResilientVendorOptions): ResilientVendor {
  const now = options.now ?? Date.now
  const budget = createRetryBudget({ ratio: options.retry.budgetRatio, floor: options.retry.budgetFloor, windowMs: 10_000, now })
  const breaker = createBreaker({ ...options.breaker, now })
  const limiter = createLimiter({ concurrency: options.vendorConcurrency, maxQueue: options.vendorQueue, now, tracer: options.tracer })
  if (options.events?.onBreakerState) breaker.onStateChange(options.events.onBreakerState)

  async function getOrder (orderId: number, machineNo: string, log: VendorLog): Promise<VendorOrder> {
    const deadlineAt = now() + options.timeoutMs
    return await withRetries(async (attempt) => {
      // the call gets what is left of the deadline once a slot is free, not before the wait for one
      return await limiter.run((timeoutMs) => breaker.run(() => client.getOrder(orderId, machineNo, { log, timeoutMs, attempt })), deadlineAt)
    }, {
      maxRetries: options.retry.maxRetries,
      baseDelayMs: options.retry.baseDelayMs,
      budget,
      deadlineAt,
      now,
      random: options.random,
      sleep: options.sleep,
      onRetry: (attempt, error) => {
        options.events?.onRetry?.()
        log.info({ vendor: { orderId, retry: attempt, after: (error as Error).message } }, 'retrying vendor call')
      }
    })
  }

  return {
    getOrder,
    shutdown: breaker.shutdown
  }
}
