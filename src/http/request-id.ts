import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

/** Tokens accepted from an incoming x-request-id; anything else (log injection, huge values) is replaced. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export const REQUEST_ID_HEADER = 'x-request-id'

export function genRequestId (request: IncomingMessage): string {
  const incoming = request.headers[REQUEST_ID_HEADER]
  return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID()
}
