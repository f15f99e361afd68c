import rateLimit from '@fastify/rate-limit'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors/catalogue.js'
import { clientKey } from '../http/client-key.js'
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

// auth's onRequest hook sets request.apiKeyId (or authFailure) before the limiter's route hook reads it
export const rateLimitPlugin = fp(rateLimitGuard, { name: 'rate-limit', dependencies: ['auth', 'shared-state'], decorators: { fastify: ['sharedState'], request: ['apiKeyId'] } })
