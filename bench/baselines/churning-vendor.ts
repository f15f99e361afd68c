import Fastify from 'fastify'
import { envelope } from '../../src/simulator/envelope.js'
import { MAX_ORDER_LINES } from '../../src/upstream/endpoints/order-query.js'

// A vendor for the streaming scenarios: every order it is asked for, whatever its id, has LINES
// lines (default: the most the service accepts, about 20 KB once normalized) and changes every
// CHANGE_MS, so each poll of the service finds a change to push. It answers the vendor's order
// query in the vendor's envelope and checks nothing (the simulator checks signing; this measures
// streams), and counts the calls it gets, per second, at GET /stats.

const env = process.env
const changeMs = Number(env.CHANGE_MS ?? 250)
const lines = Number(env.LINES ?? MAX_ORDER_LINES)
/** calls answered in each second since start; [0] is the first second */
const perSecond: number[] = []
const started = Date.now()

const records = Array.from({ length: lines }, (_, i) => ({
  id: 100_000 + i,
  product_id: 500 + i,
  quantity: 1,
  price: '1.00',
  status: 'IS_DELIVERING',
  notify_sent: '1'
}))

const app = Fastify({ logger: false })

app.get('/health', async () => ({ status: 'ok' }))

app.get('/stats', async () => ({ calls: perSecond.reduce((sum, n) => sum + n, 0), perSecond }))

app.post('/api/openapi/v1/orders/:id', async (request) => {
  const orderId = Number((request.params as { id: string }).id)
  const second = Math.floor((Date.now() - started) / 1000)
  while (perSecond.length <= second) perSecond.push(0)
  perSecond[second]!++
  return envelope(0, {
    order_id: orderId,
    trade_id: 'churning0000000000000000000000000',
    date: '2024-04-26',
    amount: `${lines}.00`,
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
