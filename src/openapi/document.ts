import packageJson from '../../package.json' with { type: 'json' }
import { PROBLEM_CONTENT_TYPE } from '../http/problem.js'

type Json = Record<string, any>

/** The document's `info.version`: the service's own version from package.json, so there is one. */
export const API_VERSION = packageJson.version

/** The document is served by the service itself: its API is at the root of wherever it came from. */
const SERVERS = [{ url: '/', description: 'This service (relative to where this document was served)' }]

const REQUEST_ID_HEADER_DOC = {
  description: 'The request id: the caller\'s x-request-id when it is a sane token, else a generated UUID.',
  schema: { type: 'string' }
}
const CACHE_HEADERS_DOC = {
  etag: { description: 'Strong validator of the body; send it back in If-None-Match to get a 304 when nothing changed.', schema: { type: 'string' } },
  'cache-control': { description: '`private, max-age=N`: N seconds the answer stays fresh (longer once the order is terminal).', schema: { type: 'string' } },
  'cache-status': {
    description: 'RFC 9211: `hit`, `fwd=miss`, `fwd=miss; collapsed` (shared another request\'s vendor call), `fwd=bypass` (cache off), or `fwd=stale; detail=stale-if-error` (the vendor failed; this is its last answer).',
    schema: { type: 'string' }
  }
}
const IF_NONE_MATCH_DOC = {
  in: 'header',
  name: 'if-none-match',
  required: false,
  description: 'An ETag from an earlier answer: a 304 with no body comes back while it still matches.',
  schema: { type: 'string' }
}
const PREFER_DOC = {
  in: 'header',
  name: 'prefer',
  required: false,
  description: 'Long polling (RFC 7240): `wait=N` with an If-None-Match that still matches holds the answer until the order changes (200) or N seconds pass (304). N is at most 30; more is taken as 30; a malformed preference is ignored.',
  schema: { type: 'string', examples: ['wait=25'] }
}
const PREFERENCE_APPLIED_HEADER_DOC = {
  description: '`wait=N` when the request waited for a change (Prefer: wait=N).',
  schema: { type: 'string' }
}
const RETRY_AFTER_HEADER_DOC = {
  description: 'Seconds to wait before asking again.',
  schema: { type: 'integer', minimum: 0 }
}

/**
 * Finishes the generated document where the route schemas cannot say it: the server, errors are
 * problem+json, every answer carries x-request-id, a 503 says Retry-After, a 200 or 304 its
 * cache headers (with If-None-Match and Prefer as parameters); and the request-side copies of schemas
 * that no operation references are dropped.
 */
export function finishOpenApiDocument<T extends Json> (document: T): T {
  Object.assign(document, { servers: SERVERS })
  for (const pathItem of Object.values<Json>(document.paths ?? {})) {
    for (const operation of Object.values<Json>(pathItem)) {
      const responses: Json = operation.responses ?? {}
      // a conditional operation: If-None-Match, long polling, and the cache headers on 200 and 304
      const conditional = responses['304'] !== undefined
      if (conditional) operation.parameters = [...(operation.parameters ?? []), IF_NONE_MATCH_DOC, PREFER_DOC]
      for (const [status, response] of Object.entries<Json>(responses)) {
        response.headers = { 'x-request-id': REQUEST_ID_HEADER_DOC, ...response.headers }
        if (conditional && (status === '200' || status === '304')) Object.assign(response.headers, CACHE_HEADERS_DOC, { 'preference-applied': PREFERENCE_APPLIED_HEADER_DOC })
        if (status === '503') response.headers['retry-after'] = RETRY_AFTER_HEADER_DOC
        if (Number(status) >= 400 && response.content?.['application/json'] !== undefined) {
          response.content = { [PROBLEM_CONTENT_TYPE]: response.content['application/json'] }
        }
      }
    }
  }
  const schemas: Json = document.components?.schemas ?? {}
  // dropping one unreferenced schema can leave the ones only it referenced unreferenced
  let unreferenced = Object.keys(schemas).filter((name) => !isReferenced(document, name))
  while (unreferenced.length > 0) {
    for (const name of unreferenced) delete schemas[name]
    unreferenced = Object.keys(schemas).filter((name) => !isReferenced(document, name))
  }
  return document
}

/** True when some $ref outside the named schema itself points at it. */
function isReferenced (document: Json, name: string): boolean {
  const { components, ...rest } = document
  const otherSchemas = Object.entries<Json>(components?.schemas ?? {}).filter(([other]) => other !== name)
  return JSON.stringify([rest, otherSchemas]).includes(`"#/components/schemas/${name}"`)
}
