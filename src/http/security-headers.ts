import type { IncomingMessage, ServerResponse } from 'node:http'
import helmet, { type HelmetOptions } from 'helmet'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

/**
 * Swagger UI's page: its scripts and styles come from 'self' (no inline script), it sets
 * inline styles and uses data: images, and "Try it out" calls this same origin. Set by
 * @fastify/swagger-ui's `staticCSP` on the /docs routes; no upgrade-insecure-requests, which
 * would break the page wherever it is served over plain HTTP (a laptop, a LAN address).
 */
export const DOCS_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'"
].join('; ')

/** The API answers JSON only: its policy forbids every kind of content and framing. */
const API_HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"], frameAncestors: ["'none'"] }
  }
}

/**
 * Helmet's headers for a configuration. They do not depend on the request (no CSP nonces), so
 * helmet runs once at start against a recording response. @fastify/helmet instead rebuilds
 * helmet's middleware on every request, which cost more than the rest of a cache hit did.
 * @see https://helmetjs.github.io/
 */
export function helmetHeaders (options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader (name: string, value: string | number | readonly string[]) { headers[name.toLowerCase()] = String(value) },
    removeHeader (name: string) { delete headers[name.toLowerCase()] }
  }
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {})
  return headers
}

/** Helmet's headers on every answer; the /docs routes replace the CSP with DOCS_CSP. */
const securityHeaders: FastifyPluginAsync = async (app) => {
  const headers = helmetHeaders(API_HELMET_OPTIONS)
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
}

export const securityHeadersPlugin = fp(securityHeaders, { name: 'security-headers' })
