import { isIP } from 'node:net'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors/catalogue.js'
import type { BoundedStoreOptions } from '../shared-state/memory/rate-limit-store.js'

export interface RateLimitOptions extends BoundedStoreOptions {
  /** requests per client per window */
  max: number
  windowMs: number
}

/**
 * @see https://github.com/fastify/fastify-rate-limit
 * Limits the routes registered after it in the same scope, per API key when the request
 * presented a valid one (the auth hook runs first and names the key by a hash), else per
 * client address (an IPv6 /64 counts as one client): without keys, and for every failed
 * authentication, so guessing keys costs the guesser's address its budget. The budget is the
 * cluster's when Redis is configured, else each process's own.
 */
const rateLimitGuard: FastifyPluginAsync<RateLimitOptions> = async (app, { max, windowMs, maxEntries, now }) => {
  await app.register(rateLimit, {
    max,
    timeWindow: windowMs,
    // the plugin's own store is an LRU: enough new addresses would evict, and so reset, a limited client
    store: app.sharedState.rateLimitStore({ maxEntries, now }),
    keyGenerator: clientKey,
    // thrown, so the error handler answers it as our problem+json; the plugin has set the headers
    errorResponseBuilder: (_request, context) => new AppError('RATE_LIMITED', {
      detail: `More than ${context.max} requests in ${windowMs / 1000} s; retry in ${context.after}.`,
      retryAfter: Math.ceil(context.ttl / 1000)
    })
  })
}

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
 * regular expression on the cache-hit path (measured in bench/profiling.md).
 */
export function clientAddress (ip: string): string {
  return ip.includes(':') ? normalizeIP(ip) : ip.toLowerCase()
}

// auth's onRequest hook sets request.apiKeyId (or authFailure) before the limiter's route hook reads it
export const rateLimitPlugin = fp(rateLimitGuard, { name: 'rate-limit', dependencies: ['auth', 'shared-state'], decorators: { fastify: ['sharedState'], request: ['apiKeyId'] } })
