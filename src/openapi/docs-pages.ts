// Where Swagger UI serves the document as pages, and the CSP those pages need.

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

/** The prefix of Swagger UI's routes: the only answers a browser renders as a page. */
export const DOCS_PREFIX = '/docs'
