import { AppError } from '../errors/catalogue.js'
import { errorForVendorCode } from './codes.js'
import { forLog } from './log-value.js'
import { MAX_ORDER_LINES, parseEnvelope, VendorOrderSchema, type VendorEnvelope, type VendorOrder } from './schemas.js'
import type { RawAnswer } from './transport.js'

/**
 * The order asked for, out of an answer to the vendor's order query; anything else is the
 * error it means. Every error carries the answer's HTTP status, for retries and the log.
 */
export function orderFromAnswer (answer: RawAnswer, orderId: number): VendorOrder {
  const { status } = answer
  const envelope = readEnvelope(answer)
  // trust a vendor error code whatever the HTTP status: the vendor sends its credential errors as 401s
  if (envelope.code !== 0) throw errorForVendorCode(envelope.code, status)
  // but a success only on a 2xx: a redirect, a 404 or a gateway's error page is not the vendor's answer
  if (status < 200 || status >= 300) {
    throw new AppError('UPSTREAM_BAD_RESPONSE', {
      detail: `The vendor answered HTTP ${status} without a vendor error code${hintFor(status)}.`,
      upstreamStatus: status
    })
  }
  return parseOrder(envelope.data, orderId, status)
}

/** The body's `{code, message, data}` envelope; anything else is UPSTREAM_BAD_RESPONSE. */
function readEnvelope ({ status, contentType, text }: RawAnswer): VendorEnvelope {
  const mediaType = mediaTypeOf(contentType)
  if (!isJsonMediaType(mediaType)) {
    throw new AppError('UPSTREAM_BAD_RESPONSE', {
      detail: `The vendor answered HTTP ${status} with ${mediaType === undefined ? 'a malformed content-type' : forLog(mediaType, 60)}, not JSON${hintFor(status)}.`,
      upstreamStatus: status
    })
  }
  const envelope = parseEnvelope(parseJson(text))
  if (envelope === null) {
    throw new AppError('UPSTREAM_BAD_RESPONSE', {
      detail: `The vendor answered HTTP ${status} with a body that is not its JSON envelope${hintFor(status)}.`,
      upstreamStatus: status
    })
  }
  return envelope
}

function parseOrder (data: unknown, orderId: number, status: number): VendorOrder {
  // some gateways wrap data as a JSON string; accept that, reject anything else that is not an object
  const candidate = typeof data === 'string' ? parseJson(data) : data
  if (candidate === undefined || candidate === null) throw badOrder(status, 'The vendor answered success without order data.')
  // checked before parsing, so an answer of countless lines costs nothing to refuse
  const records = (candidate as { records?: unknown }).records
  if (Array.isArray(records) && records.length > MAX_ORDER_LINES) {
    throw badOrder(status, `The vendor sent an order of ${records.length} lines; at most ${MAX_ORDER_LINES} are accepted.`)
  }
  const result = VendorOrderSchema.safeParse(candidate)
  if (!result.success) {
    throw badOrder(status, `The vendor's order data does not match its documented shape (${failingFields(result.error.issues)}).`, result.error)
  }
  const order = result.data
  if (order.order_id !== orderId) throw badOrder(status, `The vendor answered with order ${order.order_id} for order ${orderId}.`)
  return order
}

function badOrder (status: number, detail: string, cause?: unknown): AppError {
  return new AppError('UPSTREAM_BAD_RESPONSE', { detail, upstreamStatus: status, cause })
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

/** The fields that failed, by path, never their values; a few say enough. */
function failingFields (issues: ReadonlyArray<{ path: PropertyKey[] }>): string {
  const fields = [...new Set(issues.map((issue) => issue.path.map(String).join('.') || 'data'))]
  const shown = fields.slice(0, 5).join(', ')
  return fields.length > 5 ? `${shown} and ${fields.length - 5} more` : shown
}
