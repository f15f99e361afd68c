import cors from '@fastify/cors'
import type { FastifyPluginAsync, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import type { RunMode } from '../config/config.js'
import { AppError } from '../errors/catalogue.js'

export interface CorsPolicyOptions {
  /** exact origins allowed; null when not configured */
  origins: readonly string[] | null
  /** in demo mode (the embedded simulator), with no origins configured, every origin is allowed */
  mode: RunMode
}

/** Headers a browser app may read: request id, rate limiting, and what caches, conditional requests and long polls use. */
/** Request headers browsers may send: prefer for long polls, last-event-id for an event stream's reconnection. */
export const CORS_ALLOWED_HEADERS = ['authorization', 'x-request-id', 'if-none-match', 'prefer', 'last-event-id']

export const CORS_EXPOSED_HEADERS = ['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'etag', 'cache-status', 'preference-applied']

/**
 * A browser's preflight (OPTIONS with Origin and Access-Control-Request-Method) from an origin
 * outside the allowlist: 403 ORIGIN_NOT_ALLOWED, not the 404 of a wrong path. Other OPTIONS pass.
 */
const refuseOtherOrigins = (allowed: ReadonlySet<string>): onRequestHookHandler => (request, _reply, done) => {
  const { origin, 'access-control-request-method': method } = request.headers
  if (request.method !== 'OPTIONS' || origin === undefined || method === undefined || allowed.has(origin)) return done()
  done(new AppError('ORIGIN_NOT_ALLOWED', { detail: 'This origin is not in the deployment\'s CORS allowlist (CORS_ORIGINS): browsers may not call the API from it.' }))
}

/**
 * @see https://github.com/fastify/fastify-cors
 * An allowlist of exact origins. Outside demo mode nothing is allowed until CORS_ORIGINS says
 * so. A disallowed origin gets no CORS header at all, not a partial set: its preflight is a 403
 * (refuseOtherOrigins), its other requests are answered as usual (CORS is the browser's business).
 */
const corsPolicy: FastifyPluginAsync<CorsPolicyOptions> = async (app, { origins, mode }) => {
  const allowAll = origins === null && mode === 'demo'
  if (allowAll) app.log.warn('CORS: demo mode allows every origin; set CORS_ORIGINS to the origins of your web apps')
  const allowed = new Set(origins ?? [])
  // nothing to allow: no plugin at all, so answers carry no `Vary: Origin` they do not vary by
  if (!allowAll && allowed.size === 0) {
    app.addHook('onRequest', refuseOtherOrigins(allowed))
    return
  }
  await app.register(cors, {
    origin: (origin, callback) => callback(null, allowAll ? '*' : origin !== undefined && allowed.has(origin) ? origin : false),
    methods: ['GET', 'HEAD', 'OPTIONS'],
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    // bearer keys, no cookies: credentials mode is never needed
    credentials: false,
    maxAge: 600,
    // a strict preflight check answers text/plain 400, the one error that would not be problem+json
    strictPreflight: false
  })
  // after @fastify/cors' hook: it answers the allowed preflights, and adds `Vary: Origin` to the refusals
  if (!allowAll) app.addHook('onRequest', refuseOtherOrigins(allowed))
}

export const corsPlugin = fp(corsPolicy, { name: 'cors' })
