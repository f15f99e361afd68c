import type { z } from 'zod'
import { AppError } from '../errors/catalogue.js'
import { errorForVendorCode } from './codes.js'
import type { VendorEndpoint } from './endpoint.js'
import { forLog } from './log-value.js'
import { parseEnvelope, type VendorEnvelope } from './schemas.js'
import type { RawAnswer } from './transport.js'

/**
 * What `endpoint` asked for, out of an answer to it; anything else is the error it means.
 * Every error carries the answer's HTTP status, for retries and the log.
 */
export function resultFromAnswer<P, R> (answer: RawAnswer, endpoint: Pick<VendorEndpoint<P, R>, 'parse'>, params: P): R {
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
  // some gateways wrap data as a JSON string; one that is not JSON is no data
  const data = typeof envelope.data === 'string' ? parseJson(envelope.data) : envelope.data
  return endpoint.parse(data, params, status)
}

/** `data` as `schema` reads it; data that does not fit is UPSTREAM_BAD_RESPONSE naming the fields (never their values) and `what` it was. */
export function parseData<S extends z.ZodType> (schema: S, data: unknown, status: number, what: string): z.output<S> {
  const result = schema.safeParse(data)
  if (!result.success) {
    throw badResponse(status, `The vendor's ${what} data does not match its documented shape (${failingFields(result.error.issues)}).`, result.error)
  }
  return result.data
}

/** An answer of HTTP `status` that is not what was asked for. */
export function badResponse (status: number, detail: string, cause?: unknown): AppError {
  return new AppError('UPSTREAM_BAD_RESPONSE', { detail, upstreamStatus: status, cause })
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
