import { signParams, type Params } from '../upstream/signing.js'

/** Standard alphabet with padding, as the vendor requires; URL-safe or unpadded input is refused. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const MACHINE_NO = /^\d{8,20}$/
const TIMESTAMP = /^\d{1,20}$/

const utf8 = new TextDecoder('utf-8', { fatal: true })

export interface OrderQueryParams {
  machineNo: string
  timestamp: string
}

export type PayloadResult = { ok: true, params: OrderQueryParams } | { ok: false, code: number }

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** body → payload → parameters; undefined when any layer is not what the vendor accepts (4003). */
function decode (body: unknown): Record<string, unknown> | undefined {
  const outer = typeof body === 'string' ? parseJson(body) : undefined
  if (!isObject(outer) || typeof outer.payload !== 'string') return undefined
  if (outer.payload === '' || !BASE64.test(outer.payload)) return undefined
  let text: string
  try {
    text = utf8.decode(Buffer.from(outer.payload, 'base64'))
  } catch {
    return undefined
  }
  const params = parseJson(text)
  return isObject(params) ? params : undefined
}

/** A sign computed over exactly the decoded object, as the vendor recomputes it. */
function signMatches (params: Record<string, unknown>, signKey: string): boolean {
  if (typeof params.sign !== 'string') return false
  try {
    return signParams(params as Params, signKey) === params.sign
  } catch {
    // absurdly deep nesting overflows the flattening: no valid sign can be that
    return false
  }
}

/** Checks the raw request body the way the vendor does: decoding (4003), fields (10001), sign (4006). */
export function readPayload (body: unknown, signKey: string): PayloadResult {
  const params = decode(body)
  if (params === undefined) return { ok: false, code: 4003 }
  const { machine_no: machineNo, timestamp } = params
  if (typeof machineNo !== 'string' || !MACHINE_NO.test(machineNo)) return { ok: false, code: 10001 }
  if (typeof timestamp !== 'string' || !TIMESTAMP.test(timestamp)) return { ok: false, code: 10001 }
  if (!signMatches(params, signKey)) return { ok: false, code: 4006 }
  return { ok: true, params: { machineNo, timestamp } }
}
