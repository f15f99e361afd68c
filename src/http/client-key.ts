import { isIP } from 'node:net'
import { normalizeIP } from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'

/** Who a request counts against: its valid API key (by its hash), else its client address. */
export function clientKey (request: FastifyRequest): string {
  return request.apiKeyId ?? `ip:${clientAddress(peerAddress(request))}`
}

/**
 * The client's address: request.ip, unless a trusted X-Forwarded-For put something there that
 * is not an address (a client can write anything in it), then the peer's. The peer's own
 * address needs no check, which keeps the check off the path when no proxy is trusted.
 */
export function peerAddress (request: FastifyRequest): string {
  const ip = request.ip
  const peer = request.socket.remoteAddress ?? ''
  return ip === peer || isIP(ip) !== 0 ? ip : peer
}

/**
 * The client's bucket: an IPv6 address by its /64 (normalizeIP), anything else as it is,
 * lowercased as normalizeIP would. Only IPv6 has a colon; IPv4 skips normalizeIP's isIPv6
 * regular expression, which every request would otherwise pay.
 */
export function clientAddress (ip: string): string {
  return ip.includes(':') ? normalizeIP(ip) : ip.toLowerCase()
}
