import Fastify from 'fastify'
import { envelope } from '../../src/simulator/envelope.js'
import { MAX_ORDER_LINES } from '../../src/upstream/endpoints/order-query.js'

// A vendor for the slow-readers scenario: every order it is asked for has the most lines the
// service accepts (about 20 KB once normalized) and changes every CHANGE_MS, so each poll of the
// service finds a change to push to every stream. It answers the vendor's order query in the
// vendor's envelope and checks nothing (the simulator checks signing; this measures streams).

const env = process.env
const changeMs = Number(env.CHANGE_MS ?? 250)

const records = Array.from({ length: MAX_ORDER_LINES }, (_, i) => ({
  id: 100_000 + i,
  product_id: 500 + i,
  quantity: 1,
  price: '1.00',
  status: 'IS_DELIVERING',
  notify_sent: '1'
}))

const app = Fastify({ logger: false })

app.get('/health', async () => ({ status: 'ok' }))

app.post('/api/openapi/v1/orders/:id', async (request) => {
  const orderId = Number((request.params as { id: string }).id)
  return envelope(0, {
    order_id: orderId,
    trade_id: 'churning0000000000000000000000000',
    date: '2024-04-26',
    amount: `${MAX_ORDER_LINES}.00`,
    status: 'SUCCESS',
    // the change: a new value every changeMs
    notify_send_count: Math.floor(Date.now() / changeMs),
    records,
    pickup_code_id: 0
  })
})

process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
process.once('SIGINT', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })

await app.listen({ port: Number(env.PORT ?? 0), host: env.HOST ?? '127.0.0.1' })
