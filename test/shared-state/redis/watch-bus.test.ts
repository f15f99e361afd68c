import t, { type Test } from 'tap'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { answerOrder, buildTestApp, openEventStream, startUpstream, type SseFrame } from '../../helper.js'

const TOKEN = 'callback-token-0123456789-abcdefghij'
const orderOf = (frame: SseFrame | undefined) => JSON.parse(frame?.data ?? 'null')

/** Two replicas on one Redis, listening, in front of a stub vendor whose answer the test sets. */
async function fleet (t: Test, env: Record<string, string>) {
  const redis = await startRedisServer(t)
  let status = 'NOTPAY'
  const upstream = await startUpstream(t, (req, res) => { answerOrder(req, res, { status }) })
  const settings = { CACHE_ENABLED: 'true', REDIS_URL: redis.url, REDIS_KEY_PREFIX: `bus-${redis.port}:`, ...env }
  const replicas = []
  for (let i = 0; i < 2; i++) {
    const app = await buildTestApp(t, upstream.url, { callbackToken: TOKEN }, {}, settings)
    replicas.push({ app, url: await app.listen({ host: '127.0.0.1', port: 0 }) })
  }
  return { upstream, replicas, set: (next: string) => { status = next } }
}

t.test('live tracking across replicas on one Redis', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('a callback received by one replica wakes the watchers on the other; the refreshes make one vendor call', async (t) => {
    const { upstream, replicas: [a, b], set } = await fleet(t, { CACHE_FRESH_MS: '60000' })
    const onA = await openEventStream(t, `${a!.url}/orders/7/events?machine=16327129`)
    t.equal(orderOf(await onA.next()).status, 'NOTPAY')
    const onB = await openEventStream(t, `${b!.url}/orders/7/events?machine=16327129`)
    t.equal(orderOf(await onB.next()).status, 'NOTPAY')
    t.equal(upstream.requests.length, 1, 'the second replica opened its stream from the shared cache')

    set('SUCCESS')
    const callback = await fetch(`${a!.url}/callbacks/delivery/${TOKEN}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"method":"device.delivery.response","order_id":7}' })
    t.equal(callback.status, 204)
    t.equal(orderOf(await onB.next()).status, 'SUCCESS', 'the other replica\'s watcher sees it, long before its next poll')
    t.equal(orderOf(await onA.next()).status, 'SUCCESS')
    t.equal(upstream.requests.length, 2, 'both replicas refreshed; the cluster asked the vendor once')
  })

  t.test('watchers on both replicas: at most one vendor call per interval for the cluster', async (t) => {
    const freshMs = 300
    const { upstream, replicas, set } = await fleet(t, { CACHE_FRESH_MS: String(freshMs) })
    const started = Date.now()
    const streams = []
    for (const { url } of replicas) for (let i = 0; i < 10; i++) streams.push(await openEventStream(t, `${url}/orders/7/events?machine=16327129`))
    for (const stream of streams) t.equal(orderOf(await stream.next()).status, 'NOTPAY')
    set('SUCCESS')
    for (const stream of streams) t.equal(orderOf(await stream.next()).status, 'SUCCESS')
    const intervals = Math.ceil((Date.now() - started) / freshMs)
    t.ok(upstream.requests.length <= intervals + 1, `${upstream.requests.length} vendor calls in ${intervals} intervals, two replicas polling`)
  })
})
