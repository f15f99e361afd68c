import CircuitBreaker from 'opossum'
import { AppError, ERROR_KINDS, type ErrorCode } from '../errors/catalogue.js'

export interface BreakerOptions {
  /** opens when more than this share of the calls in the window failed... */
  thresholdPercent: number
  /** ...and the window holds at least this many calls */
  minCalls: number
  windowMs: number
  /** open this long, then one probe call decides */
  cooldownMs: number
  now?: () => number
}

export type BreakerState = 'closed' | 'open' | 'halfOpen'

export interface Breaker {
  run: <T>(call: () => Promise<T>) => Promise<T>
  /** true while open: a call would be refused without reaching the vendor */
  isOpen: () => boolean
  /** told of every change of state; an opening with the code of the vendor fault that tipped it */
  onStateChange: (listener: (state: BreakerState, faultCode?: ErrorCode) => void) => void
  shutdown: () => void
}

/** Only the vendor failing counts against it (src/errors/catalogue.ts says which kinds); its business codes are answers. */
function isVendorFault (error: unknown): boolean {
  return error instanceof AppError && ERROR_KINDS[error.code].breaker
}

/**
 * A circuit breaker around vendor calls (opossum): while open, calls fail at once with 503
 * UNAVAILABLE and a Retry-After of the cool-down left, without touching the vendor; after the
 * cool-down a single probe call decides whether it closes.
 */
export function createBreaker (options: BreakerOptions): Breaker {
  const now = options.now ?? Date.now
  const breaker = new CircuitBreaker(async (call: () => Promise<unknown>) => await call(), {
    timeout: false, // the vendor client enforces the deadline
    errorThresholdPercentage: options.thresholdPercent,
    volumeThreshold: options.minCalls,
    rollingCountTimeout: options.windowMs,
    rollingCountBuckets: 10,
    resetTimeout: options.cooldownMs,
    errorFilter: (error: unknown) => !isVendorFault(error)
  })
  let openedAt = 0
  let lastFault: ErrorCode | undefined
  const listeners: Array<(state: BreakerState, faultCode?: ErrorCode) => void> = []
  const notify = (state: BreakerState, faultCode?: ErrorCode) => { for (const listener of listeners) listener(state, faultCode) }
  // opossum reports the failure before the opening it causes
  breaker.on('failure', (error: unknown) => { if (error instanceof AppError) lastFault = error.code })
  breaker.on('open', () => { openedAt = now(); notify('open', lastFault) })
  breaker.on('halfOpen', () => notify('halfOpen'))
  breaker.on('close', () => notify('closed'))

  return {
    async run<T> (call: () => Promise<T>): Promise<T> {
      try {
        return await breaker.fire(call) as T
      } catch (error) {
        if ((error as { code?: string }).code !== 'EOPENBREAKER') throw error
        const retryAfter = Math.max(1, Math.ceil((openedAt + options.cooldownMs - now()) / 1000))
        throw new AppError('UNAVAILABLE', { detail: 'The vendor is failing; calls to it are paused for a moment.', retryAfter, cause: error })
      }
    },
    isOpen: () => breaker.opened,
    onStateChange: (listener) => { listeners.push(listener) },
    shutdown: () => breaker.shutdown()
  }
}
