import fastJson from 'fast-json-stringify'
import type { FastifySerializerCompiler } from 'fastify/types/schema.js'
import { serializerCompiler as zodSerializerCompiler } from 'fastify-type-provider-zod'
import { z } from 'zod'

type ZodRoute = Parameters<typeof zodSerializerCompiler>[0]

/**
 * Response serializers from the route's zod schema through its JSON Schema, with
 * fast-json-stringify: exactly the documented fields, in order, without re-validating every
 * answer with zod's encode (the values are the normalizer's job, and its tests'); a missing
 * field still fails the answer. A schema JSON Schema cannot express keeps the zod serializer.
 * Typed for any schema, as Fastify hands it whatever a route declares (a route-level compiler too).
 */
export const serializerCompiler: FastifySerializerCompiler<unknown> = (route) => {
  if (route.schema instanceof z.ZodType) {
    try {
      return schemaSerializer(route.schema)
    } catch { /* a transform or another type without a JSON Schema: zod serializes it */ }
  }
  // the zod compiler takes the rest, and refuses at start what is not a zod schema
  return zodSerializerCompiler(route as ZodRoute)
}

// one per schema, however many routes and statuses declare it
const serializers = new WeakMap<z.ZodType, (value: never) => string>()

/** fast-json-stringify for a zod schema's output, compiled once; throws when JSON Schema cannot express the schema. */
export function schemaSerializer<T> (schema: z.ZodType<T>): (value: T) => string {
  let serialize = serializers.get(schema) as ((value: T) => string) | undefined
  if (serialize === undefined) {
    serialize = fastJson(z.toJSONSchema(schema, { io: 'output', target: 'draft-7', unrepresentable: 'throw' }) as fastJson.AnySchema)
    serializers.set(schema, serialize)
  }
  return serialize
}
