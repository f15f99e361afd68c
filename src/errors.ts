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
  /** the vendor's HTTP status when its answer had started: tells a failure before any response (safe to retry) from one after */
  upstreamStatus?: number
  cause?: unknown
}

interface ErrorKind {
  status: number
  title: string
}

export const ERROR_KINDS = {
  // the caller's request
  INVALID_REQUEST: { status: 400, title: 'Invalid request' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  UNAUTHORIZED: { status: 401, title: 'Unauthorized' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  // what the vendor said about the order or machine
  ORDER_NOT_FOUND: { status: 404, title: 'Order not found' },
  MACHINE_NOT_FOUND: { status: 404, title: 'Machine not found' },
  ORDER_EXPIRED: { status: 410, title: 'Order expired' },
  ORDER_STATE_INVALID: { status: 409, title: 'Order state invalid' },
  MACHINE_NOT_OPERATING: { status: 409, title: 'Machine not operating' },
  MACHINE_OFFLINE: { status: 503, title: 'Machine offline' },
  // the vendor refused us, failed, or could not be reached
  UPSTREAM_REJECTED: { status: 502, title: 'Upstream rejected the request' },
  UPSTREAM_ERROR: { status: 502, title: 'Upstream error' },
  UPSTREAM_BAD_RESPONSE: { status: 502, title: 'Upstream sent a bad response' },
  UPSTREAM_UNREACHABLE: { status: 502, title: 'Upstream unreachable' },
  UPSTREAM_TIMEOUT: { status: 504, title: 'Upstream timed out' },
  // this service
  UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  INTERNAL: { status: 500, title: 'Internal error' }
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
    this.retryAfter = options.retryAfter
    this.errors = options.errors
    this.upstreamStatus = options.upstreamStatus
  }
}

export function isAppError (error: unknown): error is AppError {
  return error instanceof AppError
}
