import PQueue from 'p-queue'
import { AppError } from '../errors.js'

export interface Limiter {
  /** runs `call` when a slot is free; refuses at once when the queue is full, gives up at the deadline */
  run: <T>(call: () => Promise<T>, timeoutMs: number) => Promise<T>
  readonly inFlight: number
  readonly queued: number
}

/**
 * A cap on concurrent vendor calls with a short bounded queue (p-queue): overflow is refused
 * at once with 503 UNAVAILABLE and Retry-After, never left to wait without bound.
 */
export function createLimiter ({ concurrency, maxQueue }: { concurrency: number, maxQueue: number }): Limiter {
  const queue = new PQueue({ concurrency })
  return {
    async run<T> (call: () => Promise<T>, timeoutMs: number): Promise<T> {
      // a free slot: no wait to bound, so no timer (one per call showed up in CPU and memory)
      if (queue.pending < concurrency) return await queue.add(call)
      if (queue.size >= maxQueue) {
        throw new AppError('UNAVAILABLE', { detail: 'Too many vendor calls are waiting; try again shortly.', retryAfter: 1 })
      }
      // waiting for a slot: give up at the request's deadline; once started, the call has its own
      const controller = new AbortController()
      const timer = setTimeout(() => controller.abort(), Math.max(1, timeoutMs))
      try {
        return await queue.add(async () => {
          clearTimeout(timer)
          return await call()
        }, { signal: controller.signal })
      } catch (error) {
        if (controller.signal.aborted) {
          throw new AppError('UPSTREAM_TIMEOUT', { detail: 'The vendor did not answer in time.', cause: error })
        }
        throw error
      } finally {
        clearTimeout(timer)
      }
    },
    get inFlight () { return queue.pending },
    get queued () { return queue.size }
  }
}
