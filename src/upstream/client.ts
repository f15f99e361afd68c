import type { VendorEndpoint } from './endpoint.js'
import { resultFromAnswer } from './protocol.js'
import { encodePayload } from './signing.js'
import { createTransport, type PostOptions } from './transport.js'

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
  /** clock in ms, for the payload timestamp */
  now?: () => number
}

/** The subset of pino's logger a vendor call is logged with; Fastify's request logger fits. */
export interface VendorLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
  /** pino's: false when a line at `level` would be dropped, so it need not be built */
  isLevelEnabled?: (level: string) => boolean
}

export interface CallOptions extends PostOptions {
  /** where the call's one log line goes (observeVendorCalls writes it) */
  log?: VendorLog
  /** 0 for a request's first call to the vendor, n for its n-th retry (for its span) */
  attempt?: number
  /** told the HTTP status of the answer, whatever it means (for the call's span) */
  onAnswer?: (status: number) => void
}

export interface VendorClient {
  /** one call of `endpoint` with `params`: a signed POST, its answer read by the protocol, then by the endpoint */
  call: <P, R>(endpoint: VendorEndpoint<P, R>, params: P, options?: CallOptions) => Promise<R>
  close: () => Promise<void>
}

/** Any vendor endpoint over the transport, with the credentials and the signing every call shares. */
export function createVendorClient (options: VendorClientOptions): VendorClient {
  const base = new URL(options.baseUrl)
  const pathPrefix = base.pathname.replace(/\/+$/, '')
  const now = options.now ?? Date.now
  const transport = createTransport({ origin: base.origin, timeoutMs: options.timeoutMs, maxBodyBytes: options.maxBodyBytes, connections: options.connections })
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json',
    Appid: options.appId,
    AppSecret: options.appSecret
  }

  async function call<P, R> (endpoint: VendorEndpoint<P, R>, params: P, callOptions: CallOptions = {}): Promise<R> {
    // a fresh timestamp per attempt: the vendor checks it and the sign covers it
    const payload = encodePayload({ ...endpoint.payload(params), timestamp: String(Math.floor(now() / 1000)) }, options.signKey)
    const answer = await transport.post(pathPrefix + endpoint.path(params), headers, JSON.stringify({ payload }), callOptions)
    callOptions.onAnswer?.(answer.status)
    return resultFromAnswer(answer, endpoint, params)
  }

  return { call, close: transport.close }
}
