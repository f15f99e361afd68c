import Fastify from 'fastify'
import { randomUUID } from 'node:crypto'
import { normalizeOrder } from '../../src/orders/normalize.js'
import { envelope } from '../../src/simulator/envelope.js'
import { orderDataAt, SCENARIO_ORDERS } from '../../src/simulator/scenarios.js'
import { VendorOrderSchema } from '../../src/upstream/endpoints/order-query.js'

// Baseline (b): the ceiling for a cache hit. The normalized order is computed once at start, with
// the product's own normalizer from the simulator's own data, so its bytes equal the service's
// answer; each request then gets that string: no validation, lookup or serialization.
// With ANSWER_HEADERS (JSON [name, value] pairs: the headers the service's own answer carried, in
// its order) it is the equal-output route: it sends those headers too, as constants, but for a
// fresh x-request-id per request, as the service makes one.

const env = process.env
const orderId = Number(env.ORDER_ID ?? 1001)
const scenario = SCENARIO_ORDERS[String(orderId)]
const data = scenario === undefined ? undefined : orderDataAt(scenario, 0)
if (data === undefined) throw new Error(`the simulator has no order ${orderId} with data`)
const vendorOrder = VendorOrderSchema.parse(envelope(0, data).data)
const body = JSON.stringify(normalizeOrder(vendorOrder, orderId))
const answerHeaders = env.ANSWER_HEADERS === undefined ? undefined : JSON.parse(env.ANSWER_HEADERS) as Array<[string, string]>

const app = Fastify({ logger: false })

app.get('/health', async () => ({ status: 'ok' }))

app.get('/orders/:id', async (_request, reply) => {
  if (answerHeaders === undefined) return reply.type('application/json; charset=utf-8').send(body)
  for (const [name, value] of answerHeaders) reply.header(name, name === 'x-request-id' ? randomUUID() : value)
  return reply.send(body)
})

process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
process.once('SIGINT', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })

await app.listen({ port: Number(env.PORT ?? 0), host: env.HOST ?? '127.0.0.1' })
