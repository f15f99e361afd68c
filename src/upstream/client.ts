import { EventEmitter } from 'node:events'
import { Pool, type Dispatcher } from 'undici'
import { AppError } from '../errors.js'
import { errorForVendorCode } from './codes.js'
import { forLog } from './log-value.js'
import { MAX_ORDER_LINES, parseEnvelope, VendorOrderSchema, type Envelope, type VendorOrder } from './schemas.js'
import { encodePayload } from './signing.js'

export interface VendorCredentials {
  appId: string
  appSecret: string
  signKey: string
}

export interface VendorClientOptions extends VendorCredentials {
  /** the vendor's service address; a path prefix is kept */
  baseUrl: string
  /** total deadline of one call, connect to last body byte */
  timeoutMs: number
  /** larger bodies are refused as UPSTREAM_BAD_RESPONSE */
  maxBodyBytes: number
  /** keep-alive connections to the vendor (default 32) */
  connections?: number
  /** injected dispatcher (tests); the client then leaves closing it to its owner */
  dispatcher?: Dispatcher
  /** clock in ms, for the payload timestamp */
  now?: () => number
}

/** The subset of pino's logger the client needs; Fastify's request logger fits. */
export interface VendorLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}

export interface CallOptions {
  log?: VendorLog
  /** this call's deadline when less than the client's (the rest of a request's total deadline) */
  timeoutMs?: number
  /** cancels the call (answered as UNAVAILABLE) */
  signal?: AbortSignal
}

export interface VendorClient {
  getOrder: (orderId: number, machineNo: string, options?: CallOptions) => Promise<VendorOrder>
  close: () => Promise<void>
}

const SILENT: VendorLog = { info () {}, warn () {}, error () {} }

/** System error codes that mean the vendor could not be reached or hung up (undici's own are UND_ERR_*). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT'
])

export function createVendorClient (options: VendorClientOptions): VendorClient {
  const base = new URL(options.baseUrl)
  const origin = base.origin
  const pathPrefix = base.pathname.replace(/\/+$/, '')
  const now = options.now ?? Date.now
  const ownsDispatcher = options.dispatcher === undefined
  const dispatcher = options.dispatcher ?? new Pool(origin, {
    connections: options.connections ?? 32,
    keepAliveTimeout: 30_000,
    // the total deadline is enforced with an AbortSignal; these only stop undici's 300 s defaults
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs
  })
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json',
    Appid: options.appId,
    AppSecret: options.appSecret
  }

  async function getOrder (orderId: number, machineNo: string, callOptions: CallOptions = {}): Promise<VendorOrder> {
    const log = callOptions.log ?? SILENT
    const started = performance.now()
    const timeoutMs = Math.max(1, Math.min(options.timeoutMs, callOptions.timeoutMs ?? Infinity))
    // undici takes an EventEmitter as its abort signal: far cheaper per call than an AbortController
    // (or AbortSignal.timeout, whose timer outlives the call), and the timer is cleared at the end
    const abort = new EventEmitter()
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; abort.emit('abort') }, timeoutMs)
    const onCallerAbort = (): void => { abort.emit('abort') }
    callOptions.signal?.addEventListener('abort', onCallerAbort, { once: true })
    // a fresh timestamp per attempt: the vendor checks it and the sign covers it
    const payload = encodePayload({ machine_no: machineNo, timestamp: String(Math.floor(now() / 1000)) }, options.signKey)
    let httpStatus: number | undefined
    let vendorCode: number | undefined
    try {
      callOptions.signal?.throwIfAborted()
      const response = await dispatcher.request({
        origin,
        path: `${pathPrefix}/api/openapi/v1/orders/${orderId}`,
        method: 'POST',
        headers,
        body: JSON.stringify({ payload }),
        signal: abort
      })
      httpStatus = response.statusCode
      const text = await readCapped(response.body, options.maxBodyBytes, response.headers['content-length'])
      const envelope = readEnvelope(httpStatus, response.headers['content-type'], text)
      vendorCode = envelope.code
      // trust a vendor error code whatever the HTTP status: the vendor sends its credential errors as 401s
      if (envelope.code !== 0) throw errorForVendorCode(envelope.code)
      // but a success only on a 2xx: a redirect, a 404 or a gateway's error page is not the vendor's answer
      if (httpStatus < 200 || httpStatus >= 300) {
        throw new AppError('UPSTREAM_BAD_RESPONSE', {
          detail: `The vendor answered HTTP ${httpStatus} without a vendor error code${hintFor(httpStatus)}.`,
          upstreamStatus: httpStatus
        })
      }
      const order = parseOrder(envelope.data, orderId)
      log.info({ vendor: { orderId, durationMs: elapsed(started), httpStatus, vendorCode, outcome: 'ok' } }, 'vendor call')
      return order
    } catch (error) {
      const mapped = toAppError(error, timedOut, callOptions.signal?.aborted === true, timeoutMs, httpStatus)
      log[logLevelOf(mapped)]({ vendor: { orderId, durationMs: elapsed(started), httpStatus, vendorCode, outcome: mapped.code } }, 'vendor call')
      throw mapped
    } finally {
      clearTimeout(timer)
      callOptions.signal?.removeEventListener('abort', onCallerAbort)
    }
  }

  async function close (): Promise<void> {
    if (ownsDispatcher) await dispatcher.close()
  }

  return { getOrder, close }
}

/**
 * One log line per vendor call. Our credentials or signing being refused needs a human now;
 * a failing or unreachable vendor is worth a warning; an order that does not exist is business as usual.
 */
function logLevelOf (error: AppError): keyof VendorLog {
  if (error.code === 'UPSTREAM_REJECTED' || error.code === 'INTERNAL') return 'error'
  if (error.code.startsWith('UPSTREAM_') || error.code === 'UNAVAILABLE') return 'warn'
  return 'info'
}

function elapsed (started: number): number {
  return Math.round((performance.now() - started) * 10) / 10
}

/** Reads the whole body, refusing it as soon as it passes the cap (declared or actual). */
async function readCapped (body: Dispatcher.ResponseData['body'], maxBytes: number, contentLength: string | string[] | undefined): Promise<string> {
  const tooLarge = (): AppError => {
    // destroying emits an abort error; nobody else listens, and an unhandled one would crash the process
    body.on('error', () => {})
    body.destroy()
    return new AppError('UPSTREAM_BAD_RESPONSE', { detail: `The vendor's answer is larger than ${maxBytes} bytes.` })
  }
  if (typeof contentLength === 'string' && Number(contentLength) > maxBytes) throw tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > maxBytes) throw tooLarge()
    chunks.push(chunk)
  }
  return Buffer.concat(chunks, size).toString('utf8')
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The media type of a content-type header, lower case, '' when there is none; undefined when it is not one. */
function mediaTypeOf (contentType: string | string[] | undefined): string | undefined {
  if (contentType === undefined) return ''
  if (Array.isArray(contentType)) return undefined
  const type = contentType.split(';')[0]!.trim().toLowerCase()
  return type === '' || /^[\w.+-]+\/[\w.+-]+$/.test(type) ? type : undefined
}

/** JSON, or none, or text/plain: Go's net/http labels JSON it was not told the type of as text/plain. */
function isJsonMediaType (type: string | undefined): boolean {
  return type === '' || type === 'application/json' || type === 'text/plain' || type?.endsWith('+json') === true
}

/** What an operator can check when the vendor answers a non-vendor HTTP status. */
function hintFor (httpStatus: number): string {
  if (httpStatus === 404 || (httpStatus >= 300 && httpStatus < 400)) return ' (a wrong VENDOR_BASE_URL, its path prefix or scheme, gives this)'
  return ''
}

/** The body's `{code, message, data}` envelope; anything else is UPSTREAM_BAD_RESPONSE carrying the HTTP status, for retries. */
function readEnvelope (httpStatus: number, contentType: string | string[] | undefined, text: string): Envelope {
  const mediaType = mediaTypeOf(contentType)
  if (!isJsonMediaType(mediaType)) {
    throw new AppError('UPSTREAM_BAD_RESPONSE', {
      detail: `The vendor answered HTTP ${httpStatus} with ${mediaType === undefined ? 'a malformed content-type' : forLog(mediaType, 60)}, not JSON${hintFor(httpStatus)}.`,
      upstreamStatus: httpStatus
    })
  }
  const envelope = parseEnvelope(parseJson(text))
  if (envelope === null) {
    throw new AppError('UPSTREAM_BAD_RESPONSE', {
      detail: `The vendor answered HTTP ${httpStatus} with a body that is not its JSON envelope${hintFor(httpStatus)}.`,
      upstreamStatus: httpStatus
    })
  }
  return envelope
}

function parseOrder (data: unknown, orderId: number): VendorOrder {
  // some gateways wrap data as a JSON string; accept that, reject anything else that is not an object
  const candidate = typeof data === 'string' ? parseJson(data) : data
  if (candidate === undefined || candidate === null) {
    throw new AppError('UPSTREAM_BAD_RESPONSE', { detail: 'The vendor answered success without order data.' })
  }
  // checked before parsing, so an answer of countless lines costs nothing to refuse
  const records = (candidate as { records?: unknown }).records
  if (Array.isArray(records) && records.length > MAX_ORDER_LINES) {
    throw new AppError('UPSTREAM_BAD_RESPONSE', { detail: `The vendor sent an order of ${records.length} lines; at most ${MAX_ORDER_LINES} are accepted.` })
  }
  const result = VendorOrderSchema.safeParse(candidate)
  if (!result.success) {
    throw new AppError('UPSTREAM_BAD_RESPONSE', {
      detail: `The vendor's order data does not match its documented shape (${failingFields(result.error.issues)}).`,
      cause: result.error
    })
  }
  const order = result.data
  if (order.order_id !== orderId) {
    throw new AppError('UPSTREAM_BAD_RESPONSE', { detail: `The vendor answered with order ${order.order_id} for order ${orderId}.` })
  }
  return order
}

/** The fields that failed, by path, never their values; a few say enough. */
function failingFields (issues: ReadonlyArray<{ path: PropertyKey[] }>): string {
  const fields = [...new Set(issues.map((issue) => issue.path.map(String).join('.') || 'data'))]
  const shown = fields.slice(0, 5).join(', ')
  return fields.length > 5 ? `${shown} and ${fields.length - 5} more` : shown
}

/** `httpStatus` is set when the vendor had started answering: only failures before that are safe to retry. */
function toAppError (error: unknown, timedOut: boolean, cancelled: boolean, timeoutMs: number, httpStatus: number | undefined): AppError {
  if (error instanceof AppError) return error
  if (timedOut) {
    return new AppError('UPSTREAM_TIMEOUT', { detail: `The vendor did not answer within ${timeoutMs} ms.`, upstreamStatus: httpStatus, cause: error })
  }
  if (cancelled) {
    return new AppError('UNAVAILABLE', { detail: 'The request was cancelled before the vendor answered.', cause: error })
  }
  // DOMExceptions carry a numeric code
  const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : undefined
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new AppError('UPSTREAM_TIMEOUT', { detail: `The vendor did not answer within ${timeoutMs} ms.`, upstreamStatus: httpStatus, cause: error })
  }
  if (code !== undefined && (UNREACHABLE_CODES.has(code) || code.startsWith('UND_ERR'))) {
    return new AppError('UPSTREAM_UNREACHABLE', { detail: 'The vendor could not be reached or closed the connection.', upstreamStatus: httpStatus, cause: error })
  }
  // not a transport failure: a bug of ours, answered as INTERNAL by the error handler
  return new AppError('INTERNAL', { detail: 'Unexpected failure while calling the vendor.', cause: error })
}
