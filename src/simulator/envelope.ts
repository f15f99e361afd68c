import { omitZero } from './omit-zero.js'

/** The body of every simulator reply: the vendor's `{code, message, data}` envelope. */
export interface ReplyEnvelope {
  code: number
  message: string
  data: object | null
}

/** What the simulator answers: HTTP status plus envelope. */
export interface Reply {
  httpStatus: number
  body: ReplyEnvelope
}

/** Messages as the vendor's code tables word them; the simulator only uses these codes. */
export const MESSAGES: Record<number, string> = {
  0: 'ok',
  400: 'bad request',
  500: 'internal error',
  4003: 'invalid params',
  4006: 'payload sign invalid',
  6007: 'not owned by this merchant',
  10001: 'form validation failed',
  10008: 'Appid or AppSecret header missing',
  10013: 'AppSecret invalid',
  10014: 'Appid invalid',
  30002: 'machine offline',
  30003: 'machine does not exist',
  30004: 'machine not in operation',
  40005: '订单已过期',
  40006: 'order status invalid',
  80002: 'no matching record'
}

/** Every data object goes through omitZero, as the vendor's protobuf serializer does. */
export function envelope (code: number, data: object | null = {}, message = MESSAGES[code] ?? 'error'): ReplyEnvelope {
  return { code, message, data: data === null ? null : omitZero(data) }
}

export function answer (httpStatus: number, code: number, data: object | null = {}, message?: string): Reply {
  return { httpStatus, body: envelope(code, data, message) }
}
