import cors from '@fastify/cors'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { RunMode } from '../config/config.js'

export interface CorsPolicyOptions {
  /** exact origins allowed; null when not configured */
  origins: readonly string[] | null
  /** in demo mode (the embedded simulator), with no origins configured, every origin is allowed */
  mode: RunMode
}

/** Headers a browser app may read: request id, rate limiting, and what caches, conditional requests and long polls use. */
export const CORS_EXPOSED_HEADERS = ['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'etag', 'cache-status', 'preference-applied']

/**
 * @see https://github.com/fastify/fastify-cors
 * An allowlist of exact origins. Outside demo mode nothing is allowed until CORS_ORIGINS says
 * so. A disallowed origin gets no CORS header at all (its preflight is a 404), not a partial set.
 */
const corsPolicy: FastifyPluginAsync<CorsPolicyOptions> = async (app, { origins, mode }) => {
  const allowAll = origins === null && mode === 'demo'
  if (allowAll) app.log.warn('CORS: demo mode allows every origin; set CORS_ORIGINS to the origins of your web apps')
  const allowed = new Set(origins ?? [])
  // nothing to allow: no plugin at all, so answers carry no `Vary: Origin` they do not vary by
  if (!allowAll && allowed.size === 0) return
  await app.register(cors, {
    origin: (origin, callback) => callback(null, allowAll ? '*' : origin !== undefined && allowed.has(origin) ? origin : false),
    methods: ['GET', 'HEAD', 'OPTIONS'],
    // prefer: long polls; last-event-id: an event stream's reconnection
    allowedHeaders: ['authorization', 'x-request-id', 'if-none-match', 'prefer', 'last-event-id'],
    exposedHeaders: CORS_EXPOSED_HEADERS,
    // bearer keys, no cookies: credentials mode is never needed
    credentials: false,
    maxAge: 600,
    // a strict preflight check answers text/plain 400, the one error that would not be problem+json
    strictPreflight: false
  })
}

export const corsPlugin = fp(corsPolicy, { name: 'cors' })
