import { context, SpanStatusCode, type Tracer } from '@opentelemetry/api'
import PQueue from 'p-queue'
import { AppError } from '../errors/catalogue.js'
import { recordingSpanActive } from '../observability/tracing.js'

export interface Limiter {
  /**
   * runs `call` when a slot is free, with the time left before `deadlineAt` at that moment;
   * refuses at once when the queue is full, gives up at the deadline
   */
  run: <T>(call: (timeLeftMs: number) => Promise<T>, deadlineAt: number) => Promise<T>
  readonly inFlight: number
  readonly queued: number
}

export interface LimiterOptions {
  concurrency: number
  maxQueue: number
  /** the clock `deadlineAt` is read on */
  now?: () => number
  /** where each wait for a slot is traced, from the call to the slot or the refusal (none: not traced) */
  tracer?: Tracer | undefined
}

/**
 * A cap on concurrent vendor calls with a short bounded queue (p-queue): overflow is refused
 * at once with 503 UPSTREAM_BUSY and Retry-After, never left to wait without bound. Time spent
 * waiting for a slot comes out of the request's deadline.
 */
export function createLimiter ({ concurrency, maxQueue, now = Date.now, tracer }: LimiterOptions): Limiter {
  const queue = new PQueue({ concurrency })

  async function start<T> (call: (timeLeftMs: number) => Promise<T>, deadlineAt: number): Promise<T> {
    // counted when the slot is granted, not when the call was queued
    const timeLeftMs = deadlineAt - now()
    if (timeLeftMs <= 0) throw noSlotInTime()
    return await call(timeLeftMs)
  }

  async function waitForSlot<T> (call: (timeLeftMs: number) => Promise<T>, deadlineAt: number): Promise<T> {
    // a free slot: no wait to bound, so no timer
    if (queue.pending < concurrency) return await queue.add(() => start(call, deadlineAt))
    if (queue.size >= maxQueue) {
      throw new AppError('UPSTREAM_BUSY', { detail: 'Too many vendor calls are waiting; try again shortly.' })
    }
    // waiting for a slot: give up at the request's deadline
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), Math.max(1, deadlineAt - now()))
    try {
      return await queue.add(async () => {
        clearTimeout(timer)
        return await start(call, deadlineAt)
      }, { signal: controller.signal })
    } catch (error) {
      if (controller.signal.aborted) throw noSlotInTime(error)
      throw error
    } finally {
      clearTimeout(timer)
    }
  }

  async function traced<T> (tracer: Tracer, call: (timeLeftMs: number) => Promise<T>, deadlineAt: number): Promise<T> {
    const span = tracer.startSpan('vendor slot wait', { attributes: { 'vending.limiter.queued': queue.size } })
    let waiting = true
    // p-queue starts a queued call when another one ends, in that one's context: the call stays in its own request's
    const granted = context.bind(context.active(), async (timeLeftMs: number) => {
      waiting = false
      span.end()
      return await call(timeLeftMs)
    })
    try {
      return await waitForSlot(granted, deadlineAt)
    } catch (error) {
      if (waiting) {
        const code = error instanceof AppError ? error.code : 'INTERNAL'
        span.setAttribute('error.type', code)
        span.setStatus({ code: SpanStatusCode.ERROR, message: code })
        span.end()
      }
      throw error
    }
  }

  return {
    // traced only inside a sampled request
    run: (call, deadlineAt) => tracer === undefined || !recordingSpanActive() ? waitForSlot(call, deadlineAt) : traced(tracer, call, deadlineAt),
    get inFlight () { return queue.pending },
    get queued () { return queue.size }
  }
}

/** The vendor was never called: this service was out of capacity, not the vendor slow, hence 503 rather than 504. */
function noSlotInTime (cause?: unknown): AppError {
  return new AppError('UPSTREAM_BUSY', {
    detail: 'Too many vendor calls were in progress to start this one within VENDOR_TIMEOUT_MS; the vendor was not called. Try again shortly.',
    cause
  })
}
