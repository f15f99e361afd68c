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
      if (queue.pending >= concurrency && queue.size >= maxQueue) {
        throw new AppError('UNAVAILABLE', { detail: 'Too many vendor calls are waiting; try again shortly.', retryAfter: 1 })
      }
      try {
        return await queue.add(call, { signal: AbortSignal.timeout(Math.max(1, timeoutMs)) })
      } catch (error) {
        // the request's deadline passed, in the queue or during the call
        if ((error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError') {
          throw new AppError('UPSTREAM_TIMEOUT', { detail: 'The vendor did not answer in time.', cause: error })
        }
        throw error
      }
    },
    get inFlight () { return queue.pending },
    get queued () { return queue.size }
  }
}
