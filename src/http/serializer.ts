import fastJson from 'fast-json-stringify'
import type { FastifySerializerCompiler } from 'fastify/types/schema.js'
import { serializerCompiler as zodSerializerCompiler } from 'fastify-type-provider-zod'
import { z } from 'zod'

type ResponseSchema = Parameters<typeof zodSerializerCompiler>[0]['schema']

/**
 * Response serializers compiled once per route and status, from the route's zod schema through
 * its JSON Schema, with fast-json-stringify: exactly the documented fields, in order. The zod
 * serializer re-validated every answer with zod's encode, a sixth of the CPU of an uncached
 * request under load; the values are the normalizer's job (and its tests'), and a missing field
 * still fails the answer. A schema JSON Schema cannot express keeps the zod serializer.
 */
export const serializerCompiler: FastifySerializerCompiler<ResponseSchema> = (route) => {
  if (route.schema instanceof z.ZodType) {
    try {
      return compileSerializer(route.schema)
    } catch { /* a transform or another type without a JSON Schema: zod serializes it */ }
  }
  return zodSerializerCompiler(route)
}

/** fast-json-stringify for a zod schema's output; throws when JSON Schema cannot express the schema. */
export function compileSerializer<T> (schema: z.ZodType<T>): (value: T) => string {
  return fastJson(z.toJSONSchema(schema, { io: 'output', target: 'draft-7', unrepresentable: 'throw' }) as fastJson.AnySchema)
}
