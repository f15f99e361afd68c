import helmet from '@fastify/helmet'
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

/**
 * @see https://github.com/fastify/fastify-helmet
 * Helmet's headers on every answer. The API answers JSON only, so its policy forbids every
 * kind of content and framing; /docs replaces it with DOCS_CSP.
 */
const securityHeaders: FastifyPluginAsync = async (app) => {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"], frameAncestors: ["'none'"] }
    }
  })
}

export const securityHeadersPlugin = fp(securityHeaders, { name: 'security-headers' })
