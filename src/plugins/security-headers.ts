import type { IncomingMessage, ServerResponse } from 'node:http'
import helmet, { type HelmetOptions } from 'helmet'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { DOCS_PREFIX } from '../openapi/docs-pages.js'

/**
 * The API answers JSON, which browsers never render as a page (nosniff holds them to the content
 * type). It gets the set the OWASP REST Security Cheat Sheet lists for APIs: a CSP that forbids
 * every kind of content and framing, X-Frame-Options for browsers older than frame-ancestors,
 * HSTS and nosniff; and Cross-Origin-Resource-Policy, so no other site can embed an answer in a
 * no-cors load. Helmet's document headers (COOP, Referrer-Policy, Origin-Agent-Cluster, DNS
 * prefetch, IE and Flash switches) govern what a rendered page may do, so they go on /docs only:
 * each header is bytes and parsing on every answer, for both ends of the connection.
 * @see https://cheatsheetseries.owasp.org/cheatsheets/REST_Security_Cheat_Sheet.html#security-headers
 */
const API_HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  xFrameOptions: { action: 'deny' },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  referrerPolicy: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false
}

/** Helmet's full set for the Swagger UI pages; @fastify/swagger-ui replaces the CSP with DOCS_CSP. */
const DOCUMENT_HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: API_HELMET_OPTIONS.contentSecurityPolicy,
  xFrameOptions: API_HELMET_OPTIONS.xFrameOptions
}

/**
 * Helmet's headers for a configuration. They do not depend on the request (no CSP nonces), so
 * helmet runs once at start against a recording response, where @fastify/helmet would rebuild
 * helmet's middleware on every request.
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

/** Helmet's API set on every answer but the /docs pages, which get the document set. */
const securityHeaders: FastifyPluginAsync = async (app) => {
  const api = helmetHeaders(API_HELMET_OPTIONS)
  const document = helmetHeaders(DOCUMENT_HELMET_OPTIONS)
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(isDocsUrl(request.url) ? document : api)
    done()
  })
}

function isDocsUrl (url: string): boolean {
  if (!url.startsWith(DOCS_PREFIX)) return false
  const next = url[DOCS_PREFIX.length]
  return next === undefined || next === '/' || next === '?'
}

export const securityHeadersPlugin = fp(securityHeaders, { name: 'security-headers' })
