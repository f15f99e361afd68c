import { EventEmitter } from 'node:events'
import { Pool, type Dispatcher } from 'undici'
import { AppError } from '../errors/catalogue.js'

export interface TransportOptions {
  /** the vendor's origin; paths are the caller's */
  origin: string
  /** total deadline of one call, connect to last body byte */
  timeoutMs: number
  /** larger bodies are refused as UPSTREAM_BAD_RESPONSE */
  maxBodyBytes: number
  /** keep-alive connections to the vendor (default 32) */
  connections?: number
}

export interface PostOptions {
  /** this call's deadline when less than the transport's (the rest of a request's total deadline) */
  timeoutMs?: number
}

/** An answer read in full, whoever sent it (the vendor, or a gateway in its place). */
export interface RawAnswer {
  status: number
  contentType: string | string[] | undefined
  text: string
}

export interface Transport {
  /** POSTs `body` and reads the whole answer within the deadline; every failure is an AppError */
  post: (path: string, headers: Record<string, string>, body: string, options: PostOptions) => Promise<RawAnswer>
  close: () => Promise<void>
}

/** System error codes that mean the vendor could not be reached or hung up (undici's own are UND_ERR_*). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT'
])

/** The undici pool to the vendor, with one deadline per call and a cap on the answer's size. */
export function createTransport (options: TransportOptions): Transport {
  const { origin, maxBodyBytes } = options
  const pool = new Pool(origin, {
    connections: options.connections ?? 32,
    keepAliveTimeout: 30_000,
    // the total deadline is enforced with an abort signal; these only stop undici's 300 s defaults
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    // undici stops reading past the cap; a declared Content-Length over it is refused before reading
    maxResponseSize: maxBodyBytes
  })

  async function post (path: string, headers: Record<string, string>, body: string, callOptions: PostOptions): Promise<RawAnswer> {
    const timeoutMs = Math.max(1, Math.min(options.timeoutMs, callOptions.timeoutMs ?? Infinity))
    // undici takes an EventEmitter as its abort signal: no AbortController per call, and the timer is cleared at the end
    const abort = new EventEmitter()
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; abort.emit('abort') }, timeoutMs)
    let status: number | undefined
    try {
      const response = await pool.request({ origin, path, method: 'POST', headers, body, signal: abort })
      status = response.statusCode
      const contentLength = response.headers['content-length']
      if (typeof contentLength === 'string' && Number(contentLength) > maxBodyBytes) throw refuseUnread(response.body, maxBodyBytes, status)
      // bytes, not text(): text() drops a leading byte-order mark, and a body starting with one is not the vendor's envelope
      const bytes = await response.body.bytes()
      return { status, contentType: response.headers['content-type'], text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') }
    } catch (error) {
      throw toAppError(error, { timedOut, timeoutMs, maxBodyBytes, status })
    } finally {
      clearTimeout(timer)
    }
  }

  return { post, close: () => pool.close() }
}

function tooLarge (maxBodyBytes: number, status: number | undefined, cause?: unknown): AppError {
  return new AppError('UPSTREAM_BAD_RESPONSE', { detail: `The vendor's answer is larger than ${maxBodyBytes} bytes.`, upstreamStatus: status, cause })
}

function refuseUnread (body: Dispatcher.ResponseData['body'], maxBodyBytes: number, status: number): AppError {
  // destroying emits an abort error; nobody else listens, and an unhandled one would crash the process
  body.on('error', () => {})
  body.destroy()
  return tooLarge(maxBodyBytes, status)
}

function timeout (timeoutMs: number, status: number | undefined, cause: unknown): AppError {
  return new AppError('UPSTREAM_TIMEOUT', { detail: `The vendor did not answer within ${timeoutMs} ms.`, upstreamStatus: status, cause })
}

interface Circumstances {
  timedOut: boolean
  timeoutMs: number
  maxBodyBytes: number
  /** the answer's HTTP status, once it had started */
  status: number | undefined
}

function toAppError (error: unknown, { timedOut, timeoutMs, maxBodyBytes, status }: Circumstances): AppError {
  if (error instanceof AppError) return error
  // DOMExceptions carry a numeric code
  const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : undefined
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return tooLarge(maxBodyBytes, status, error)
  if (timedOut) return timeout(timeoutMs, status, error)
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return timeout(timeoutMs, status, error)
  if (code !== undefined && (UNREACHABLE_CODES.has(code) || code.startsWith('UND_ERR'))) {
    return new AppError('UPSTREAM_UNREACHABLE', { detail: 'The vendor could not be reached or closed the connection.', upstreamStatus: status, cause: error })
  }
  // not a transport failure: a bug of ours, answered as INTERNAL by the error handler
  return new AppError('INTERNAL', { detail: 'Unexpected failure while calling the vendor.', cause: error })
}
