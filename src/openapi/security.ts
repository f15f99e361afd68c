type Json = Record<string, any>

/**
 * The committed document is generated with a placeholder API key, so it declares the scheme and
 * says when it is enforced; a deployment without API_KEYS serves its document without it.
 */
export const SECURITY_SCHEMES = {
  bearerAuth: {
    type: 'http' as const,
    scheme: 'bearer',
    description: 'An API key issued by the operator of this service, sent as `Authorization: Bearer <key>`. Enforced only when the deployment sets API_KEYS; otherwise the API is open and the header is ignored.'
  }
}

const integerHeader = (description: string) => ({ description, schema: { type: 'integer', minimum: 0 } })

const RATE_LIMIT_HEADERS = {
  'x-ratelimit-limit': integerHeader('Requests allowed per window for this API key (or client address when keys are off).'),
  'x-ratelimit-remaining': integerHeader('Requests left in the current window.'),
  'x-ratelimit-reset': integerHeader('Seconds until the current window ends.')
}

const WWW_AUTHENTICATE_HEADER = {
  description: '`Bearer`, or `Bearer error="invalid_token"` when a key was sent but is not valid.',
  schema: { type: 'string' }
}

/**
 * The headers of authentication and rate limiting, on the operations that declare the bearer
 * scheme (those are the guarded ones): the rate-limit headers on every answer the limiter saw
 * (all but 401, which is answered before it), WWW-Authenticate on 401, Retry-After on 429.
 * With `keysEnforced` false (a deployment without API_KEYS), those operations take no key: their
 * security requirement, their 401 and the scheme itself leave the document, so that a validating
 * proxy or Swagger UI does not ask for a key the service would ignore.
 */
export function documentSecurity<T extends Json> (document: T, { keysEnforced }: { keysEnforced: boolean }): T {
  for (const pathItem of Object.values<Json>(document.paths ?? {})) {
    for (const operation of Object.values<Json>(pathItem)) {
      const guarded = (operation.security ?? []).some((requirement: Json) => 'bearerAuth' in requirement)
      if (!guarded) continue
      if (!keysEnforced) {
        operation.security = []
        delete operation.responses?.['401']
      }
      for (const [status, response] of Object.entries<Json>(operation.responses ?? {})) {
        if (status === '401') {
          response.headers = { ...response.headers, 'www-authenticate': WWW_AUTHENTICATE_HEADER }
          continue
        }
        response.headers = { ...response.headers, ...RATE_LIMIT_HEADERS }
        if (status === '429') response.headers['retry-after'] = integerHeader('Seconds to wait before asking again.')
      }
    }
  }
  if (!keysEnforced) delete document.components?.securitySchemes
  return document
}
