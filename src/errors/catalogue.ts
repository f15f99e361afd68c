/**
 * The one catalogue of errors this service answers with. Each is an RFC 9457 problem with a
 * stable `code`; the HTTP layer (src/http/problem.ts) turns them into problem+json.
 * No Fastify here: the vendor client and the orders service throw these too.
 */

export interface FieldError {
  /** where the field is: `params`, `querystring` or `headers` */
  in: string
  /** the field's name, e.g. `id` or `machine` */
  field: string
  message: string
}

export interface AppErrorOptions {
  detail?: string
  vendorCode?: number
  /** seconds, sent as Retry-After */
  retryAfter?: number
  errors?: FieldError[]
  /** overrides the kind's status and title: Fastify's own 4xx errors (413, 415, ...) keep theirs */
  status?: number
  title?: string
  /** the HTTP status of the answer to a vendor call, once one had started (the vendor's, or a gateway's in its place) */
  upstreamStatus?: number
  cause?: unknown
}

/** Everything the code decides about one kind of error, so that each decision is made here once. */
export interface ErrorKind {
  status: number
  title: string
  /** the level a vendor call that ended in it is logged at: a human must act now, worth a look, business as usual */
  logLevel: 'error' | 'warn' | 'info'
  /** counts against the circuit breaker: the vendor failed, rather than answered */
  breaker: boolean
  /**
   * when a vendor call that ended in it may be tried again: `beforeAnswer` when no answer had
   * started, `gatewayAnswer` when a gateway answered 502/503/504 in the vendor's place; false never
   */
  retry: false | 'beforeAnswer' | 'gatewayAnswer'
  /** a cached order may be served instead (stale-if-error): the vendor failed, not the order */
  staleIfError: boolean
  /** cached like this, when caching is on: `notFound` for CACHE_NOT_FOUND_MS, `terminal` for CACHE_TERMINAL_MS; absent: never cached */
  cache?: 'notFound' | 'terminal'
  /** nothing can follow it for this order: it ends a watch (an event stream, a long poll, a poller) */
  final: boolean
  /** seconds, sent as Retry-After when whoever throws it does not know better */
  retryAfterS?: number
}

// an answer (the caller's request, or what the vendor said), and a fault (the vendor or this service failed)
const answer = (status: number, title: string, extra: Partial<ErrorKind> = {}): ErrorKind =>
  ({ status, title, logLevel: 'info', breaker: false, retry: false, staleIfError: false, final: false, ...extra })
const fault = (status: number, title: string, extra: Partial<ErrorKind> = {}): ErrorKind =>
  ({ status, title, logLevel: 'warn', breaker: true, retry: false, staleIfError: true, final: false, ...extra })

export const ERROR_KINDS = {
  // the caller's request
  INVALID_REQUEST: answer(400, 'Invalid request'),
  NOT_FOUND: answer(404, 'Not found'),
  METHOD_NOT_ALLOWED: answer(405, 'Method not allowed'),
  UNAUTHORIZED: answer(401, 'Unauthorized'),
  // a browser's preflight from an origin outside CORS_ORIGINS: a 404 would read as a wrong path
  ORIGIN_NOT_ALLOWED: answer(403, 'Origin not allowed'),
  RATE_LIMITED: answer(429, 'Too many requests', { retryAfterS: 5 }),
  // what the vendor said about the order or machine: answers, never retried, never a breaker failure
  ORDER_NOT_FOUND: answer(404, 'Order not found', { cache: 'notFound', final: true }),
  MACHINE_NOT_FOUND: answer(404, 'Machine not found', { cache: 'notFound', final: true }),
  ORDER_EXPIRED: answer(410, 'Order expired', { cache: 'terminal', final: true }),
  ORDER_STATE_INVALID: answer(409, 'Order state invalid'),
  MACHINE_NOT_OPERATING: answer(409, 'Machine not operating'),
  // asked again every time: a machine comes back online at any moment
  MACHINE_OFFLINE: answer(503, 'Machine offline', { retryAfterS: 30 }),
  // the vendor refused us: our credentials, signing or request are wrong, and a human must fix them
  UPSTREAM_REJECTED: answer(502, 'Upstream rejected the request', { logLevel: 'error' }),
  UPSTREAM_ERROR: answer(502, 'Upstream error', { logLevel: 'warn' }),
  // the vendor failed or could not be reached
  UPSTREAM_BAD_RESPONSE: fault(502, 'Upstream sent a bad response', { retry: 'gatewayAnswer' }),
  UPSTREAM_UNREACHABLE: fault(502, 'Upstream unreachable', { retry: 'beforeAnswer' }),
  UPSTREAM_TIMEOUT: fault(504, 'Upstream timed out'),
  // this service, and the vendor was not called: every vendor-call slot stayed taken (the limiter)...
  UPSTREAM_BUSY: fault(503, 'Too many vendor calls in progress', { breaker: false, retryAfterS: 1 }),
  // ...or VENDOR_MAX_CALLS_PER_SECOND had no call left for it in time (src/upstream/call-budget.ts)...
  UPSTREAM_BUDGET_SPENT: fault(503, 'Vendor call budget spent', { breaker: false, retryAfterS: 1 }),
  // ...or it is out of capacity, the breaker is open, or the caller went away
  UNAVAILABLE: fault(503, 'Service unavailable', { breaker: false, retryAfterS: 5 }),
  INTERNAL: answer(500, 'Internal error', { logLevel: 'error' })
} as const satisfies Record<string, ErrorKind>

export type ErrorCode = keyof typeof ERROR_KINDS

export class AppError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly title: string
  readonly detail: string
  readonly vendorCode: number | undefined
  readonly retryAfter: number | undefined
  readonly errors: FieldError[] | undefined
  readonly upstreamStatus: number | undefined

  constructor (code: ErrorCode, options: AppErrorOptions = {}) {
    const kind = ERROR_KINDS[code]
    const detail = options.detail ?? kind.title
    super(detail, { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.status = options.status ?? kind.status
    this.title = options.title ?? kind.title
    this.detail = detail
    this.vendorCode = options.vendorCode
    this.retryAfter = options.retryAfter ?? (kind as ErrorKind).retryAfterS
    this.errors = options.errors
    this.upstreamStatus = options.upstreamStatus
  }
}

export function isAppError (error: unknown): error is AppError {
  return error instanceof AppError
}
