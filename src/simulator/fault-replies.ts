import type { Socket } from 'node:net'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { envelope } from './envelope.js'

/** What nginx in front of the vendor answers when the backend is down. */
export const HTML_502 = '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n' +
  '<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n'

/** Bytes that are neither JSON nor valid UTF-8, like a truncated binary or a misrouted proxy. */
export const GARBAGE = Buffer.concat([
  Buffer.from('\u0000\u0001PK\u0003\u0004'),
  Buffer.from([0xff, 0xfe, 0xc3, 0x28]),
  Buffer.from(' not json {"code": 0')
])

export const HUGE_MIN_BYTES = 2 * 1024 * 1024

let huge: string | undefined

/** A well-formed success envelope just over 2 MiB (built once), to test body-size limits. */
export function hugeBody (): string {
  if (huge !== undefined) return huge
  const count = Math.ceil(HUGE_MIN_BYTES / 80)
  const records = Array.from({ length: count }, (_, i) => ({
    id: 100000 + i, product_id: 121, quantity: 1, price: '1.00', status: 'IS_SUCCESS', notify_sent: '1'
  }))
  huge = JSON.stringify(envelope(0, { order_id: 54, status: 'SUCCESS', amount: `${count}.00`, records }))
  return huge
}

/** Ends the connection without an answer: a TCP reset on a real socket, a destroyed response under inject. */
export function resetConnection (request: FastifyRequest, reply: FastifyReply): void {
  reply.hijack()
  const socket = request.raw.socket as Partial<Socket> | undefined
  if (typeof socket?.resetAndDestroy === 'function') socket.resetAndDestroy()
  else if (typeof socket?.destroy === 'function') socket.destroy()
  reply.raw.destroy()
}

/** Promises a full JSON body, sends half of it, then drops the connection. */
export function resetMidBody (reply: FastifyReply, status: number, json: string): void {
  reply.hijack()
  const body = Buffer.from(json, 'utf8')
  reply.raw.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': body.length
  })
  // FIN rather than RST, so the half body is delivered before the connection ends
  reply.raw.write(body.subarray(0, Math.floor(body.length / 2)), () => reply.raw.destroy())
}
