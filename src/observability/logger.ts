import { pino, type DestinationStream, type Logger } from 'pino'

/** The vendor settings' secret fields (VendorSettings, the vendor client's options). */
const VENDOR_SECRETS = ['appId', 'appSecret', 'signKey']

/**
 * Every place a credential could sit in one of our log lines, by the names we log things under.
 * Explicit paths only: a path that starts with a wildcard makes pino run every child's bindings
 * and every line's fields through the redactor.
 */
export const REDACT_PATHS = [
  // callers' credentials, should a raw request or its headers be logged (the req serializer keeps no headers)
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie',
  // the vendor's credential headers, as the simulator receives them and as the vendor client sends them
  'req.headers.appid', 'req.headers.appsecret', 'headers.Appid', 'headers.AppSecret', 'Appid', 'AppSecret',
  // the vendor settings: spread into a line, as `vendor`, as the client's `options`, or inside the config
  ...['', 'vendor.', 'options.', 'config.vendor.'].flatMap((prefix) => VENDOR_SECRETS.map((key) => prefix + key)),
  // the callers' keys, alone or inside the config
  'apiKeys', 'config.apiKeys',
  // the delivery callback's path secret
  'callbackToken', 'config.callbackToken',
  // the key that signs what replicas share through Redis, and the one before it
  ...['', 'redisTrust.', 'config.redisTrust.'].flatMap((prefix) => ['signingKey', 'previousSigningKey'].map((key) => prefix + key))
]

/** Query parameters logged as sent: any other value may be a credential (`?access_token=`). */
const LOGGED_QUERY_PARAMETERS = new Set(['machine'])

/** The URL with every query value but the allowed ones replaced; a parameter without a name goes whole. */
export function redactQuery (url: string): string {
  const start = url.indexOf('?')
  if (start === -1) return url
  const parameters = url.slice(start + 1).split('&').map((parameter) => {
    const equals = parameter.indexOf('=')
    if (equals === -1) return parameter === '' ? '' : '[redacted]'
    const name = parameter.slice(0, equals)
    return LOGGED_QUERY_PARAMETERS.has(name) ? parameter : `${name}=[redacted]`
  })
  return `${url.slice(0, start)}?${parameters.join('&')}`
}

/** The delivery callback's path: its last segment is CALLBACK_TOKEN, a secret. */
const CALLBACK_PATH = /^\/callbacks\/delivery\/[^?]*/

/** The URL as logged: the callback token and every query value but the allowed ones replaced. */
export function redactUrl (url: string): string {
  return redactQuery(url).replace(CALLBACK_PATH, '/callbacks/delivery/[redacted]')
}

interface LoggedRequest {
  method?: string
  url?: string
  headers?: Record<string, string | string[] | undefined>
  host?: string
  ip?: string
  socket?: { remotePort?: number }
}

/** Fastify's request serializer, the same fields, with the query values and the callback token redacted. */
function serializeRequest (request: LoggedRequest) {
  return {
    method: request.method,
    url: request.url === undefined ? undefined : redactUrl(request.url),
    version: request.headers?.['accept-version'],
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}

/**
 * Where a request's logger holds its trace context when tracing is on (src/plugins/tracing.ts
 * sets it on the request's child logger); the names are OpenTelemetry's for JSON log lines.
 */
export const TRACE_CONTEXT = Symbol('trace context')
/** span_id is ours; without it, the trace is a caller's that this service did not sample */
export interface TraceContext { trace_id: string, span_id?: string }
type TracedLogger = Logger & { [TRACE_CONTEXT]?: TraceContext }

/** The trace context of the logger writing the line (or of its parents): read only for lines written. */
function traceContextOf (_line: object, _level: number, logger: TracedLogger): object {
  const traced = logger[TRACE_CONTEXT]
  // a fresh object each time: pino merges the line into it
  if (traced === undefined) return {}
  return traced.span_id === undefined ? { trace_id: traced.trace_id } : { trace_id: traced.trace_id, span_id: traced.span_id }
}

export interface LoggerOptions {
  /** lines of a traced request carry its trace_id and span_id (start() turns it on with tracing) */
  traceContext?: boolean
}

export function createLogger (level: string, destination?: DestinationStream, options: LoggerOptions = {}): Logger {
  return pino({
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { req: serializeRequest },
    ...(options.traceContext === true ? { mixin: traceContextOf as (line: object, level: number, logger: Logger) => object } : {})
  }, destination)
}

/** Gives a request's logger (and every child of it) its trace context, for the lines it writes. */
export function setTraceContext (logger: object, context: TraceContext): void {
  (logger as TracedLogger)[TRACE_CONTEXT] = context
}
