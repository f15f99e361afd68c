import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api'
import { LogController, type FastifyReply, type FastifyRequest, type onErrorHookHandler, type onRequestHookHandler, type onRouteHookHandler, type RouteHandlerMethod } from 'fastify'
import { setTraceContext } from './logger.js'
import { carryContext } from './trace-context.js'
import { parseTraceparent } from './sampling.js'
import type { Tracing } from './tracing.js'

// A request's span and what its log lines carry when tracing is on, as hooks the tracing plugin
// registers (src/plugins/tracing.ts). Whether a request is traced is decided once, in its first
// hook, before anything is made for it: an unsampled request gets no span, no context and no
// attribute, and nothing runs for it after that hook (but, with `asyncContext`, one property
// read before its handler). A sampled request's context travels with its logger
// (src/observability/trace-context.ts); it is the async context of its hooks and handler only
// where something in them finds its parent span nowhere else.

/** Path parameters that are credentials: the delivery callback's `/callbacks/delivery/:token`. */
const SECRET_PATH_PARAMETERS = new Set(['token'])

/**
 * The request path for `url.path`: never the query (its values may be credentials), and a secret
 * path parameter replaced, by the route pattern's segments; the pattern itself when they do not line up.
 */
export function tracedPath (url: string, route: string | undefined): string {
  const query = url.indexOf('?')
  const path = query === -1 ? url : url.slice(0, query)
  if (route === undefined) return path
  const secret = secretSegments(route)
  if (secret === undefined) return path
  const segments = path.split('/')
  if (segments.length !== secret.length) return route
  return segments.map((segment, index) => secret[index] === true ? 'REDACTED' : segment).join('/')
}

/** route pattern → which of its segments are secret, undefined when none is; a route's answer is kept, there are few routes */
const secretsByRoute = new Map<string, boolean[] | undefined>()
function secretSegments (route: string): boolean[] | undefined {
  if (secretsByRoute.has(route)) return secretsByRoute.get(route)
  const secret = route.split('/').map((segment) => segment.startsWith(':') && SECRET_PATH_PARAMETERS.has(segment.slice(1)))
  const kept = secret.includes(true) ? secret : undefined
  if (secretsByRoute.size < 1000) secretsByRoute.set(route, kept)
  return kept
}

/**
 * The request span's name and attributes, as the HTTP server semantic conventions have them: the
 * method and route pattern as the name, a url.path without query or secret. Asked only for a
 * request that is sampled.
 */
export function requestSpanStart (request: FastifyRequest): { name: string, attributes: Attributes } {
  const route = request.is404 ? undefined : request.routeOptions.url
  const attributes: Attributes = { 'http.request.method': request.method, 'url.path': tracedPath(request.url, route) }
  if (route === undefined) return { name: request.method, attributes }
  attributes['http.route'] = route
  return { name: `${request.method} ${route}`, attributes }
}

const kIncomingPending = Symbol('incoming request line not written yet')
type Pending = FastifyRequest & { [kIncomingPending]?: boolean }

/**
 * Fastify writes "incoming request" at routing, before any hook, so before the request span
 * exists. This controller holds that line back until the tracing plugin's onRequest hook has
 * bound the trace id to the request's logger, or until the request completes without reaching
 * any hook (framework errors), so no line of a traced request goes out without its trace id.
 */
export class TracedLogController extends LogController {
  override incomingRequest (request: FastifyRequest, _reply: FastifyReply): void {
    (request as Pending)[kIncomingPending] = true
  }

  /** writes the line held back, once */
  incomingRequestNow (request: FastifyRequest, reply: FastifyReply): void {
    if ((request as Pending)[kIncomingPending] !== true) return
    (request as Pending)[kIncomingPending] = false
    super.incomingRequest(request, reply)
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    this.incomingRequestNow(request, reply)
    super.requestCompleted(error, request, reply)
  }
}

/** A sampled request's span and the context its hooks and handler run in. */
interface RequestTrace {
  span: Span
  context: Context
  /** the error the request failed with, recorded on the span when the answer is a 5xx */
  error: Error | undefined
  /** with asyncContext: lets go of the async context (once), once the handler has started or the request ends */
  release: () => void
}

const kTrace = Symbol('request trace')
type Traced = FastifyRequest & { [kTrace]: RequestTrace | null }

export interface RequestTracingOptions {
  tracing: Tracing
  logController: TracedLogController
  /** no span for these paths (the health probes), whatever the sampler says */
  ignorePath?: (url: string) => boolean
  /**
   * whether a sampled request's hooks, and its handler until its first await, run in its async
   * context (AsyncLocalStorage): needed when they call code that finds its parent span only there,
   * the Redis client's instrumentation (the rate limit's count). Without it (the default), and
   * after the handler's start with it, the orders service finds the request's context on its
   * logger and enters it only around what makes spans below its lookup (with Redis, the shared
   * cache's reads and writes too).
   */
  asyncContext?: boolean
}

export interface RequestTracingHooks {
  /** the request property the hooks keep a sampled request's trace in (declare it: app.decorateRequest(property, null)) */
  property: symbol
  /** with `asyncContext` only: each route's handler runs in its request's context */
  onRoute: onRouteHookHandler | undefined
  onRequest: onRequestHookHandler
  onError: onErrorHookHandler
}

/** The hooks of request tracing, for the tracing plugin to register on the root instance, before any route. */
export function requestTracingHooks ({ tracing: { tracer, sample, holdContext }, logController, ignorePath = () => false, asyncContext = false }: RequestTracingOptions): RequestTracingHooks {
  // the handler, and what it calls, runs in the request's context even when a body was read in between
  // (stream events lose the async context); an unsampled request's handler is called as it is
  const onRoute: onRouteHookHandler | undefined = !asyncContext
    ? undefined
    : (route) => {
        if (ignorePath(route.url)) return
        const handler = route.handler as (this: unknown, request: FastifyRequest, reply: FastifyReply) => unknown
        route.handler = function tracedHandler (this: unknown, request: FastifyRequest, reply: FastifyReply) {
          const traced = (request as Traced)[kTrace]
          if (traced === null) return handler.call(this, request, reply)
          // the handler starts in the context; once it waits, the hold goes (what it calls later finds the
          // request's context on its logger, and the orders service holds the async context around its own
          // Redis reads). Let go after the run, not before: no turning the hook off and on again in between
          try {
            return context.with(traced.context, handler, this, request, reply)
          } finally {
            traced.release()
          }
        } as RouteHandlerMethod
      }

  // a callback hook: an async one costs a promise on every request
  const onRequest: onRequestHookHandler = (request, reply, done) => {
    const parent = parseTraceparent(request.headers.traceparent)
    if (ignorePath(request.url) || !sample(parent)) {
      // not traced here, but part of the caller's trace: its lines carry the caller's trace id (and no span id: there is no span of ours)
      if (parent !== undefined) setTraceContext(request.log, { trace_id: parent.traceId })
      logController.incomingRequestNow(request, reply)
      done()
      return
    }
    // the caller's trace context in full (tracestate, baggage) once the request is known to be traced; a request
    // starts from the root context, never from one an earlier request left behind
    const parentContext = parent === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, request.headers)
    const { name, attributes } = requestSpanStart(request)
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parentContext)
    const traced: RequestTrace = { span, context: trace.setSpan(parentContext, span), error: undefined, release: noRelease }
    ;(request as Traced)[kTrace] = traced
    const { traceId, spanId } = span.spanContext()
    // on the request's own logger (reply.log is the same one), read only when a line is written: no child per request
    setTraceContext(request.log, { trace_id: traceId, span_id: spanId })
    // and for what the request calls with its logger: the orders service's lookup span is its child
    carryContext(request.log, traced.context)
    logController.incomingRequestNow(request, reply)
    // 'close' comes after the answer was sent, and also when the client went away first (a stream, a long poll)
    if (!asyncContext) {
      reply.raw.once('close', () => { endRequestSpan(traced, reply) })
      done()
      return
    }
    // the other hooks (and what they call: Redis for the rate limit) run in the request's context, held on
    // (Node 20's promise hook, for every request in the process) until the handler has started, not until the
    // answer has been written: a request refused before its handler lets go when it ends
    traced.release = holdContext()
    reply.raw.once('close', () => {
      endRequestSpan(traced, reply)
      traced.release()
    })
    context.with(traced.context, done)
  }

  // called only for a request that fails; its status is known only once the error handler has answered
  const onError: onErrorHookHandler = (request, _reply, error, done) => {
    const traced = (request as Traced)[kTrace]
    if (traced !== null) traced.error = error
    done()
  }
  return { property: kTrace, onRoute, onRequest, onError }
}

const noRelease = (): void => {}

function endRequestSpan ({ span, error }: RequestTrace, reply: FastifyReply): void {
  const response = reply.raw
  // a client that left before the answer began has no status to record
  if (response.headersSent) {
    span.setAttribute('http.response.status_code', response.statusCode)
    // the semantic conventions: a server span is an error for a 5xx only (a 4xx is the caller's)
    if (response.statusCode >= 500) {
      if (error !== undefined) span.recordException(error)
      span.setStatus({ code: SpanStatusCode.ERROR, ...(error === undefined ? {} : { message: error.message }) })
    }
  }
  span.end()
}
