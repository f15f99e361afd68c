import { context, trace, type Context } from '@opentelemetry/api'

// A sampled request's trace context, carried by its logger rather than only by the async context.
// The request's logger reaches every call a request makes (it is the `log` argument of the orders
// service and the vendor client), so a span made there can find its parent without an
// AsyncLocalStorage run: on Node 20 the first run turns on a promise hook for every promise in the
// process, and a cache hit, whose only span below the request is its lookup, then needs none.

const kCarried = Symbol('the trace context of the request this logger is for')
type Carrying = object & { [kCarried]?: Context }

/** Gives a sampled request's logger (and every child of it, which inherits it) the request's trace context. */
export function carryContext (logger: object, carried: Context): void {
  (logger as Carrying)[kCarried] = carried
}

/**
 * Where a span made for the code that logs to `logger` belongs: the trace context the logger
 * carries (its request is sampled), else the async context when a recording span is active in
 * it, else nowhere (undefined: the request is not sampled, or there is no request).
 */
export function parentContext (logger: object): Context | undefined {
  const carried = (logger as Carrying)[kCarried]
  if (carried !== undefined) return carried
  const active = context.active()
  return trace.getSpan(active)?.isRecording() === true ? active : undefined
}

let holdAsyncContext: (() => () => void) | undefined

/** How work run in a context holds the async context on until it settles (startTracing sets it; undefined: nothing to hold). */
export function setContextHolds (holds: (() => () => void) | undefined): void {
  holdAsyncContext = holds
}

/**
 * Runs `work` in `ctx` as the async context, for the spans made inside it that find their parent
 * only there (the limiter's, the vendor attempts', the Redis client's), and holds that context on
 * until the work settles.
 */
export async function withinContext<T> (ctx: Context, work: () => Promise<T>): Promise<T> {
  const release = holdAsyncContext?.()
  try {
    return await context.with(ctx, work)
  } finally {
    release?.()
  }
}
