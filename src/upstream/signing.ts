import { hash } from 'node:crypto'

/** A parameter value as the vendor accepts it: scalars, or objects/arrays that get flattened. */
export type ParamValue = string | number | boolean | null | undefined | ParamValue[] | { [key: string]: ParamValue }
export type Params = Record<string, ParamValue>

const UNRESERVED = /^[A-Za-z0-9_.~-]*$/

/**
 * Go's url.QueryEscape: only A-Z a-z 0-9 - _ . ~ stay, space becomes '+', everything else is
 * %XX in uppercase. encodeURIComponent also keeps ! ' ( ) *, so those are escaped by hand.
 */
function goQueryEscape (text: string): string {
  // digits and plain names, like every parameter of the order query, need no escaping
  if (UNRESERVED.test(text)) return text
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+')
}

/** The vendor drops empty values before signing: '', null, undefined, and anything printing as NULL. */
function isEmpty (value: ParamValue): boolean {
  return value === undefined || value === null || value === '' || String(value) === 'NULL'
}

function isNested (value: ParamValue): boolean {
  return typeof value === 'object' && value !== null
}

/**
 * Flattens nested objects and arrays the way the vendor's Go library does
 * (`os[platform]=linux`, `items[0]=a`), dropping empty leaves.
 */
function flatten (params: Params, prefix = ''): Array<[string, string]> {
  const pairs: Array<[string, string]> = []
  for (const [key, value] of Object.entries(params)) {
    const name = prefix === '' ? key : `${prefix}[${key}]`
    if (Array.isArray(value)) {
      pairs.push(...flatten(Object.fromEntries(value.map((v, i) => [String(i), v])), name))
    } else if (typeof value === 'object' && value !== null) {
      pairs.push(...flatten(value, name))
    } else if (!isEmpty(value)) {
      pairs.push([name, String(value)])
    }
  }
  return pairs
}

/** UTF-16 surrogates: the only code units whose order differs from UTF-8 byte order. */
const SURROGATE = /[\uD800-\uDFFF]/

/** Byte-order comparison (not locale order), as Go's sort of strings does. */
function byteOrder (a: string, b: string): number {
  // without surrogates, UTF-16 code unit order is code point order, which is UTF-8 byte order
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/**
 * The string the vendor hashes: every non-empty parameter except `sign`, flattened, sorted by
 * key in byte order, form-encoded as Go's url.Values.Encode() does, then `&key=<signKey>`.
 * (The vendor's PHP sample joins raw values; for the digit-only values of the order query
 * both give the same string, and the vendor's backend is Go, so Go's rules win.)
 */
export function canonicalString (params: Params, signKey: string): string {
  const { sign: _ignored, ...rest } = params
  const encoded = flatten(rest)
    .sort(([a], [b]) => byteOrder(a, b))
    .map(([key, value]) => `${goQueryEscape(key)}=${goQueryEscape(value)}`)
    .join('&')
  return `${encoded}&key=${signKey}`
}

/** `sign`: MD5 of the canonical string as 32 uppercase hex digits. */
export function signParams (params: Params, signKey: string): string {
  return hash('md5', canonicalString(params, signKey), 'hex').toUpperCase()
}

/**
 * The request payload: base64 (standard alphabet, padded) of the JSON of the parameters plus
 * `sign`. Like the vendor's Go library (ToBase64String), top-level empty values are left out of
 * the payload as they are out of the sign; nested objects go in as given (their sign drops empty leaves).
 */
export function encodePayload (params: Params, signKey: string): string {
  const kept = Object.fromEntries(Object.entries(params).filter(([, value]) => isNested(value) || !isEmpty(value)))
  const signed = { ...kept, sign: signParams(kept, signKey) }
  return Buffer.from(JSON.stringify(signed), 'utf8').toString('base64')
}
