import t from 'tap'
import { z } from 'zod'
import { schemaSerializer, serializerCompiler } from '../../src/http/serializer.js'
import { ProblemSchema } from '../../src/http/problem.js'
import { ORDER_EXAMPLE, OrderSchema, type Order } from '../../src/orders/schema.js'

const EXAMPLE: Order = OrderSchema.parse(ORDER_EXAMPLE)
const compile = (schema: z.ZodType) => serializerCompiler({ schema, method: 'GET', url: '/orders/:id', httpStatus: '200' })

t.test('an order is written exactly as zod would write it', async (t) => {
  const serialize = compile(OrderSchema)
  t.equal(serialize(EXAMPLE), JSON.stringify(OrderSchema.encode(EXAMPLE)))
  const unpaid: Order = { ...EXAMPLE, status: 'NOTPAY', items: [{ ...EXAMPLE.items[0]!, status: null }] }
  t.equal(serialize(unpaid), JSON.stringify(OrderSchema.encode(unpaid)))
})

t.test('only the documented fields leave the service, and none of them may be missing', async (t) => {
  const serialize = compile(OrderSchema)
  t.notMatch(serialize({ ...EXAMPLE, appSecret: 'leaked' }), 'leaked')
  const { tradeId: _missing, ...incomplete } = EXAMPLE
  t.throws(() => serialize(incomplete))
})

t.test('problems keep their optional fields optional', async (t) => {
  const serialize = compile(ProblemSchema)
  const problem = { type: 'urn:x', title: 'Not found', status: 404, detail: 'No.', code: 'ORDER_NOT_FOUND', requestId: 'r1' }
  t.equal(serialize(problem), JSON.stringify(problem))
  t.equal(serialize({ ...problem, vendorCode: 80002 }), JSON.stringify({ ...problem, vendorCode: 80002 }))
})

t.test('a schema JSON Schema cannot express is still serialized, by zod', async (t) => {
  const serialize = compile(z.object({ at: z.date() }))
  t.equal(serialize({ at: new Date(0) }), '{"at":"1970-01-01T00:00:00.000Z"}')
})

t.test('one serializer per schema: every route and status declaring it, and the order representation, share it', async (t) => {
  t.equal(compile(OrderSchema), schemaSerializer(OrderSchema))
  t.equal(serializerCompiler({ schema: OrderSchema, method: 'GET', url: '/orders/:id/other', httpStatus: '200' }), compile(OrderSchema))
  t.not(compile(ProblemSchema), compile(OrderSchema))
  t.throws(() => schemaSerializer(z.string().transform((value) => value.length)), 'what JSON Schema cannot express is refused, not cached')
})
