import t, { type Test } from 'tap'
import { createMetrics, type Metrics } from '../../../src/observability/metrics.js'
import { sealMessage } from '../../../src/shared-state/redis/messages.js'
import { toStored } from '../../../src/shared-state/redis/outcome-codec.js'
import { CHANGES_CHANNEL, WAKES_CHANNEL } from '../../../src/shared-state/redis/watch-bus.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { answerOrder, buildTestApp, openEventStream, startUpstream, until, type SseFrame } from '../../helper.js'
import { order } from '../../orders/fixtures/read-through.js'
import { SIGNING_KEY, signerFor } from './fixtures/trust.js'

const TOKEN = 'callback-token-0123456789-abcdefghij'
const orderOf = (frame: SseFrame | undefined) => JSON.parse(frame?.data ?? 'null')

/** Two replicas on one Redis, listening, in front of a stub vendor whose answer the test sets. */
async function fleet (t: Test, env: Record<string, string>) {
  const redis = await startRedisServer(t)
  let status = 'NOTPAY'
  const upstream = await startUpstream(t, (req, res) => { answerOrder(req, res, { status }) })
  const prefix = `bus-${redis.port}:`
  const settings = { CACHE_ENABLED: 'true', REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, REDIS_SIGNING_KEY: SIGNING_KEY, ...env }
  const replicas: Array<{ app: Awaited<ReturnType<typeof buildTestApp>>, url: string, metrics: Metrics }> = []
  for (let i = 0; i < 2; i++) {
    const metrics = createMetrics({ defaultMetrics: false })
    const app = await buildTestApp(t, upstream.url, { callbackToken: TOKEN }, { metrics }, settings)
    replicas.push({ app, url: await app.listen({ host: '127.0.0.1', port: 0 }), metrics })
  }
  const { Redis } = await import('ioredis')
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  await until(async () => (await raw.pubsub('NUMSUB', `${prefix}${CHANGES_CHANNEL}`))[1] === 2)
  return { upstream, replicas, prefix, raw, set: (next: string) => { status = next } }
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
    // 20 streams from one address: with Redis, EVENTS_MAX_PER_CLIENT counts them across both replicas
    const { upstream, replicas, set } = await fleet(t, { CACHE_FRESH_MS: String(freshMs), EVENTS_MAX_PER_CLIENT: '20' })
    const started = Date.now()
    const streams = []
    for (const { url } of replicas) for (let i = 0; i < 10; i++) streams.push(await openEventStream(t, `${url}/orders/7/events?machine=16327129`))
    for (const stream of streams) t.equal(orderOf(await stream.next()).status, 'NOTPAY')
    set('SUCCESS')
    for (const stream of streams) t.equal(orderOf(await stream.next()).status, 'SUCCESS')
    const intervals = Math.ceil((Date.now() - started) / freshMs)
    t.ok(upstream.requests.length <= intervals + 1, `${upstream.requests.length} vendor calls in ${intervals} intervals, two replicas polling`)
  })
  t.test('a forged PUBLISH on the changes channel reaches no stream: only a signed change for that order does', async (t) => {
    const { upstream, replicas, prefix, raw, set } = await fleet(t, { CACHE_FRESH_MS: '60000' })
    const streams = []
    for (const { url } of replicas) streams.push(await openEventStream(t, `${url}/orders/7/events?machine=16327129`))
    for (const stream of streams) t.equal(orderOf(await stream.next()).status, 'NOTPAY')
    const key = '7:16327129'
    const refund = { kind: 'order', order: { ...order(7, true), status: 'REFUND', amount: '999.00' }, storedAt: Date.now(), freshMs: 300_000 } as const
    const now = Date.now()
    const forged = [
      // as the finding sent it: another replica's change, unsigned
      JSON.stringify({ from: 'another replica', key, outcome: toStored(key, refund) }),
      sealMessage(signerFor(prefix, 'not-the-fleet-key-0123456789abcdefgh'), CHANGES_CHANNEL, { from: 'x', key, outcome: toStored(key, refund) }, now),
      // signed with the fleet's key, but order 99's outcome for order 7's key
      sealMessage(signerFor(prefix), CHANGES_CHANNEL, { from: 'x', key, outcome: toStored(key, { ...refund, order: { ...refund.order, id: 99 } }) }, now)
    ]
    for (const message of forged) await raw.publish(`${prefix}${CHANGES_CHANNEL}`, message)
    await raw.publish(`${prefix}${WAKES_CHANNEL}`, JSON.stringify({ from: 'x', orderId: 7 }))
    const rejected = async (metrics: Metrics) => (await metrics.registry.getSingleMetric('redis_rejected_total')!.get()).values.reduce((sum, { value }) => sum + value, 0)
    for (const { metrics } of replicas) await until(async () => await rejected(metrics) === 4, { what: 'every forged message rejected' })
    t.equal(upstream.requests.length, 1, 'the forged wake woke no poller')

    set('SUCCESS')
    const callback = await fetch(`${replicas[0]!.url}/callbacks/delivery/${TOKEN}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"method":"device.delivery.response","order_id":7}' })
    t.equal(callback.status, 204)
    for (const stream of streams) t.equal(orderOf(await stream.next()).status, 'SUCCESS', 'the next frame of every stream is the vendor\'s, not the forged REFUND')
  })
})
