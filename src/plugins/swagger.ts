import fastifySwagger from '@fastify/swagger'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'
import { API_VERSION, finishOpenApiDocument } from '../openapi/document.js'
import { documentSecurity, SECURITY_SCHEMES } from '../openapi/security.js'

export const API_DESCRIPTION = [
  'Order status for mobile and web apps, from the vending-machine vendor\'s Open API.',
  '',
  'The service holds the merchant credentials, signs each call, normalizes the vendor\'s protobuf-style JSON (every field is always present) and maps vendor error codes to honest HTTP statuses.',
  'Errors are RFC 9457 `application/problem+json` with a stable `code`; a 400 lists every failing field in `errors`.',
  'Poll an order until `terminal` is true, or follow it: `GET /orders/{id}/events` streams every change as Server-Sent Events, and `Prefer: wait=N` on `GET /orders/{id}` long-polls.',
  '',
  'When the deployment sets API keys, send yours as `Authorization: Bearer <key>`. Requests are rate limited per key (per client address when keys are off): the `x-ratelimit-*` headers say how many are left, and a 429 says when to retry in `Retry-After`.'
].join('\n')

/**
 * @see https://github.com/fastify/fastify-swagger
 * The OpenAPI 3.1 document, from the routes' zod schemas, finished where they cannot say it.
 * Registered before any route: it collects routes as they are added. `keysEnforced`: whether
 * the deployment sets API_KEYS, which the document's security then says.
 */
const swagger: FastifyPluginAsync<{ keysEnforced: boolean }> = async (app, { keysEnforced }) => {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Vending order status API', description: API_DESCRIPTION, version: API_VERSION },
      tags: [{ name: 'orders', description: 'Order and dispensing status' }, { name: 'callbacks', description: 'Notifications from the vendor (present only when the deployment sets CALLBACK_TOKEN)' }],
      components: { securitySchemes: SECURITY_SCHEMES }
    },
    transform: jsonSchemaTransform,
    transformObject: (input) => documentSecurity(finishOpenApiDocument(jsonSchemaTransformObject(input)), { keysEnforced })
  })
}

export const swaggerPlugin = fp(swagger, { name: 'swagger' })
