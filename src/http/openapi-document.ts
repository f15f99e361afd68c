import { PROBLEM_CONTENT_TYPE } from './problem.js'

type Json = Record<string, any>

const REQUEST_ID_HEADER_DOC = {
  description: 'The request id: the caller\'s x-request-id when it is a sane token, else a generated UUID.',
  schema: { type: 'string' }
}
const RETRY_AFTER_HEADER_DOC = {
  description: 'Seconds to wait before asking again.',
  schema: { type: 'integer', minimum: 0 }
}

/**
 * Finishes the generated document where the route schemas cannot say it: errors are
 * problem+json, every answer carries x-request-id, a 503 says Retry-After; and the
 * request-side copies of schemas that no operation references are dropped.
 */
export function finishOpenApiDocument<T extends Json> (document: T): T {
  for (const pathItem of Object.values<Json>(document.paths ?? {})) {
    for (const operation of Object.values<Json>(pathItem)) {
      for (const [status, response] of Object.entries<Json>(operation.responses ?? {})) {
        response.headers = { 'x-request-id': REQUEST_ID_HEADER_DOC, ...response.headers }
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
