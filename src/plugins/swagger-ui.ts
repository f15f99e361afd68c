import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { DOCS_CSP, DOCS_PREFIX } from '../openapi/docs-pages.js'

/**
 * @see https://github.com/fastify/fastify-swagger-ui
 * Swagger UI at /docs and the document at /docs/json, under the docs CSP (its page sets inline
 * styles and uses data: images, which the API's CSP forbids).
 */
const swaggerUi: FastifyPluginAsync = async (app) => {
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX, staticCSP: DOCS_CSP })
}

export const swaggerUiPlugin = fp(swaggerUi, { name: 'swagger-ui', dependencies: ['swagger'] })
