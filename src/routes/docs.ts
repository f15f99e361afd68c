import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyPluginAsync } from 'fastify'
import { DOCS_CSP, DOCS_PREFIX } from '../plugins/security-headers.js'

/**
 * @see https://github.com/fastify/fastify-swagger-ui
 * Swagger UI at /docs and the document at /docs/json, under the docs CSP (its page sets inline
 * styles and uses data: images, which the API's CSP forbids).
 */
export const docsRoutes: FastifyPluginAsync = async (app) => {
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX, staticCSP: DOCS_CSP })
}
