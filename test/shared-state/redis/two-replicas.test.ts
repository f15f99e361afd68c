import { get } from 'node:http'
import t, { type Test } from 'tap'
import { buildSimulator } from '../../../src/simulator/app.js'
import { clientSlotsKey } from '../../../src/shared-state/redis/client-slots.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { buildTestApp, openEventStream, TEST_CREDENTIALS, until } from '../../helper.js'
import { order } from '../../orders/fixtures/read-through.js'
import { orderUrl, startFleet } from './fleet.js'
import { SIGNING_KEY } from './fixtures/trust.js'

const ORDER = '/orders/54?machine=16327129'
/** An unpaid order that never changes: a stream of it stays open, a long poll on it waits its whole wait. */
const HELD = '/orders/1008?machine=16327129'

/** A long poll on HELD at `url` over a connection of its own, which the test can leave. */
function holdPoll (url: string, etag: string) {
  const req = get(`${url}${HELD}`, { headers: { 'if-none-match': etag, prefer: 'wait=30' } })
  req.on('error', () => {})
  req.on('response', (res) => { res.resume() })
  return { leave: () => { req.destroy() } }
}

/** Two replicas of the service on one Redis, in front of one simulator that answers after latencyMs. */
async function fleet (t: Test, env: Record<string, string> = {}, latencyMs = 200) {
  const redis = await startRedisServer(t)
  const simulator = buildSimulator({ credentials: TEST_CREDENTIALS, faults: { latencyMs } })
  t.teardown(() => simulator.close())
  const vendorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 })
  // REDIS_SLOW_MS near the timeout: on a busy machine a slow answer must not turn sharing off, since what these tests take apart is Redis itself, not its speed
  const settings = { CACHE_ENABLED: 'true', CACHE_FRESH_MS: '60000', REDIS_URL: redis.url, REDIS_KEY_PREFIX: `test-${redis.port}:`, VENDOR_TIMEOUT_MS: '5000', REDIS_SIGNING_KEY: SIGNING_KEY, REDIS_TIMEOUT_MS: '1000', REDIS_SLOW_MS: '900', ...env }
  const replicas = [await buildTestApp(t, vendorUrl, {}, {}, settings), await buildTestApp(t, vendorUrl, {}, {}, settings)] as const
  for (const replica of replicas) t.ok(replica.sharedState.isShared(), 'the replica reached Redis')
  return { redis, simulator, replicas, vendorCalls: () => simulator.simulator.stats.calls }
}

t.test('two replicas on one Redis', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('50 concurrent requests for one order, spread over both replicas, make one vendor call', async (t) => {
    const { replicas, vendorCalls } = await fleet(t)
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => replicas[i % 2]!.inject({ url: ORDER })))
    t.equal(vendorCalls(), 1, 'one call for the whole cluster')
    t.ok(answers.every((res) => res.statusCode === 200 && res.json().id === 54), 'every answer is the order')
    t.equal(new Set(answers.map((res) => res.headers.etag)).size, 1, 'the same representation everywhere')
    const results = answers.map((res) => String(res.headers['cache-status']))
    t.equal(results.filter((status) => status.includes('stored')).length, 1, 'one replica asked the vendor...')
    t.ok(results.filter((status) => status.includes('collapsed')).length >= 1, '...others were collapsed into its call')
  })

  t.test('an order cached by one replica is a hit on the other', async (t) => {
    const { replicas, vendorCalls } = await fleet(t, {}, 0)
    t.match((await replicas[0].inject({ url: ORDER })).headers['cache-status'], /fwd=miss; stored/)
    const other = await replicas[1].inject({ url: ORDER })
    t.equal(other.statusCode, 200)
    t.match(other.headers['cache-status'], /; hit;/, 'served from the shared cache')
    t.equal(vendorCalls(), 1)
    const notFound = await replicas[0].inject({ url: '/orders/99999?machine=16327129' })
    t.equal(notFound.statusCode, 404)
    t.match((await replicas[1].inject({ url: '/orders/99999?machine=16327129' })).headers['cache-status'], /; hit;/, 'a kept not-found answer is shared too')
    t.equal(vendorCalls(), 2)
  })

  t.test('a key\'s budget is the cluster\'s', async (t) => {
    const { replicas } = await fleet(t, { RATE_LIMIT_MAX: '3' }, 0)
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await replicas[i % 2]!.inject({ url: ORDER })).statusCode)
    t.same(statuses, [200, 200, 200, 429], 'the fourth request is limited, on whichever replica')
  })

  t.test('a budget of 40 (L = 2): one client across both replicas is stopped within max + L, and at that bound at worst', async (t) => {
    const redis = await startRedisServer(t)
    const { replicas: [a, b] } = await startFleet(t, { REDIS_URL: redis.url }, { RATE_LIMIT_MAX: '40' }, 0)
    const status = async (replica: typeof a) => (await replica.app.inject({ url: orderUrl(54) })).statusCode
    t.equal(await status(b), 200, 'b counts the first request in Redis, and knows the count is 1')
    const fromA = []
    for (let i = 0; i < 45; i++) fromA.push(await status(a))
    t.same(fromA, [...Array.from({ length: 39 }, () => 200), ...Array.from({ length: 6 }, () => 429)], 'a admits the rest of the budget, exactly')
    const fromB = []
    for (let i = 0; i < 5; i++) fromB.push(await status(b))
    t.same(fromB, [200, 200, 429, 429, 429], 'b spends its L = 2 on what it knew, then learns from Redis that the budget is spent')
    const refused = await a.app.inject({ url: orderUrl(54) })
    t.equal(refused.json().code, 'RATE_LIMITED')
    t.ok(Number(refused.headers['retry-after']) > 0 && Number(refused.headers['retry-after']) <= 60, `Retry-After ${refused.headers['retry-after']} s`)
  })

  t.test('a budget of 40: the same client on both replicas at once gets at least 40 and at most 42', async (t) => {
    const redis = await startRedisServer(t)
    const { replicas } = await startFleet(t, { REDIS_URL: redis.url }, { RATE_LIMIT_MAX: '40' }, 0)
    const statuses: number[] = []
    for (let round = 0; round < 10; round++) {
      statuses.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => replicas[(i + round) % 2]!.app.inject({ url: orderUrl(54) })))).map((res) => res.statusCode))
    }
    const admitted = statuses.filter((status) => status === 200).length
    t.ok(admitted >= 40 && admitted <= 42, `${admitted} of 100 admitted`)
    t.same(statuses.filter((status) => status !== 200 && status !== 429), [], 'every other answer a 429')
  })

  t.test('Redis killed mid-run loses no request; restarted, sharing resumes', async (t) => {
    const { redis, replicas, vendorCalls } = await fleet(t, { CACHE_FRESH_MS: '1000', REDIS_TIMEOUT_MS: '100' }, 20)
    const answers: Array<{ asked: number, statusCode: number, id: unknown }> = []
    const load = (async () => {
      for (let round = 0; round < 30; round++) {
        const batch = await Promise.all(Array.from({ length: 6 }, async (_, i) => {
          const asked = 1001 + (i % 3)
          const { statusCode, body } = await replicas[i % 2]!.inject({ url: `/orders/${asked}?machine=16327129` })
          return { asked, statusCode, id: JSON.parse(body).id }
        }))
        answers.push(...batch)
        if (round === 10) await redis.kill()
      }
    })()
    await load
    t.equal(answers.length, 180)
    t.same(answers.filter(({ statusCode }) => statusCode !== 200), [], 'no error answers')
    t.same(answers.filter(({ asked, id }) => id !== asked), [], 'every answer is the order asked for, not just one of the three')
    t.notOk(replicas[0].sharedState.isShared(), 'the replicas noticed')

    await redis.restart()
    // each link checks every second; the test's timeout bounds the wait
    await until(() => replicas.every((replica) => replica.sharedState.isShared()))
    const before = vendorCalls()
    await replicas[0].inject({ url: '/orders/1007?machine=16327129' })
    t.match((await replicas[1].inject({ url: '/orders/1007?machine=16327129' })).headers['cache-status'], /; hit;/, 'shared again, without a restart')
    t.equal(vendorCalls() - before, 1)
  })

  t.test('a vendor error is shared with the waiting replicas too: one call, one answer', async (t) => {
    const { replicas, vendorCalls } = await fleet(t)
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => replicas[i % 2]!.inject({ url: '/orders/54?machine=30000002' })))
    t.equal(vendorCalls(), 1, JSON.stringify(answers.map((res) => res.headers['cache-status'])))
    t.same(answers.map((res) => [res.statusCode, res.json().code]), Array.from({ length: 10 }, () => [503, 'MACHINE_OFFLINE']))
    t.same([...new Set(answers.map((res) => res.json().detail))], ['The machine is offline; try again shortly.'], 'in the same words on both: each replica\'s own, never sent')
  })

  t.test('a replica that died holding an order\'s lock: another takes over when the lock expires', async (t) => {
    const { redis, replicas, vendorCalls } = await fleet(t, {}, 0)
    const { Redis } = await import('ioredis')
    const dead = new Redis(redis.url, { keyPrefix: `test-${redis.port}:` })
    t.teardown(() => dead.disconnect())
    t.equal(await dead.set('lock:54:16327129', 'a replica that died', 'PX', 300, 'NX'), 'OK')
    const res = await replicas[0].inject({ url: ORDER })
    t.equal(res.statusCode, 200)
    t.match(res.headers['cache-status'], /fwd=miss; stored/, 'it asked the vendor itself')
    t.equal(vendorCalls(), 1)
  })

  t.test('the Redis password is never logged, and redis_up says whether Redis answers', async (t) => {
    const { redis, simulator } = await fleet(t, {}, 0)
    const vendorUrl = `http://127.0.0.1:${(simulator.server.address() as { port: number }).port}`
    const { captureLogs } = await import('../../helper.js')
    const { createMetrics } = await import('../../../src/observability/metrics.js')
    const logs = captureLogs()
    const metrics = createMetrics({ defaultMetrics: false })
    const password = 'p4ssw0rd-never-logged'
    await redis.kill()
    const app = await buildTestApp(t, vendorUrl, {}, { logger: logs.logger, metrics }, { CACHE_ENABLED: 'true', REDIS_URL: `redis://:${password}@127.0.0.1:${redis.port}`, LOG_LEVEL: 'trace' })
    t.notOk(app.sharedState.isShared(), 'nothing listens there now')
    t.equal((await app.inject({ url: ORDER })).statusCode, 200, 'answered without Redis')
    t.match(await metrics.registry.metrics(), /^redis_up 0$/m)
    t.notOk(logs.lines().includes(password), 'not in any log line')
    t.match(logs.lines(), /Redis not reachable at start/)

    await redis.restart()
    const healthy = createMetrics({ defaultMetrics: false })
    const up = await buildTestApp(t, vendorUrl, {}, { metrics: healthy }, { CACHE_ENABLED: 'true', REDIS_URL: redis.url })
    t.ok(up.sharedState.isShared())
    t.match(await healthy.registry.metrics(), /^redis_up 1$/m)
    t.notMatch(await createMetrics({ defaultMetrics: false }).registry.metrics(), /redis_up/, 'absent without REDIS_URL')
  })
  t.test('what anyone with access to Redis writes there is not served: a forged order, a future one, a wrong type, a lock nobody holds', async (t) => {
    const { redis, replicas, vendorCalls } = await fleet(t, { CACHE_FRESH_MS: '1000' }, 0)
    const { Redis } = await import('ioredis')
    const raw = new Redis(redis.url, { keyPrefix: `test-${redis.port}:` })
    t.teardown(() => raw.disconnect())
    const forged = { kind: 'order', order: { ...order(99), tradeId: 'FORGED', amount: '999.00' }, storedAt: Date.now(), freshMs: 60_000 }
    await raw.set('outcome:54:16327129', JSON.stringify(forged))
    const planted = await replicas[0].inject({ url: ORDER })
    t.equal(planted.json().id, 54, 'order 54, not the forged order 99')
    t.not(planted.json().tradeId, 'FORGED')
    t.match(planted.headers['cache-status'], /fwd=miss; stored/, 'a miss: the vendor was asked')

    await raw.set('outcome:1001:16327129', JSON.stringify({ ...forged, order: order(1001), storedAt: Date.now() + 10 * 365 * 86_400_000, freshMs: 315_360_000_000 }))
    const future = await replicas[0].inject({ url: '/orders/1001?machine=16327129' })
    t.match(future.headers['cache-status'], /fwd=miss; stored/)
    const maxAge = (res: { headers: Record<string, unknown> }) => Number(/max-age=(\d+)/.exec(String(res.headers['cache-control']))?.[1])
    t.ok(maxAge(future) <= 300, `max-age=${maxAge(future)}: the vendor's terminal order, kept CACHE_TERMINAL_MS, not ten years`)
    await raw.flushdb()
    const other = await replicas[1].inject({ url: '/orders/1001?machine=16327129' })
    t.ok(maxAge(other) <= 300, `the other replica keeps only what the vendor said (max-age=${maxAge(other)})`)

    await raw.hset('outcome:1002:16327129', 'kind', 'order')
    await raw.set('lock:1003:16327129', 'nobody')
    const before = vendorCalls()
    for (const id of [1002, 1003]) {
      const answers = await Promise.all(replicas.map((replica) => replica.inject({ url: `/orders/${id}?machine=16327129` })))
      t.same(answers.map((res) => res.statusCode), [200, 200], `order ${id} answered on both`)
    }
    t.equal(vendorCalls() - before, 2, 'one vendor call per order for the cluster: coalescing still shared')
    t.ok(replicas.every((replica) => replica.sharedState.isShared()), 'no replica took the bad keys for Redis down')
    t.equal(await raw.type('outcome:1002:16327129'), 'string', 'the hash was overwritten by the next write')
  })

  t.test('EVENTS_MAX_PER_CLIENT is the fleet\'s: a client\'s event streams and long polls are counted across both replicas', async (t) => {
    const { redis, replicas } = await fleet(t, { EVENTS_MAX_PER_CLIENT: '2' }, 0)
    const urls = await Promise.all(replicas.map((replica) => replica.listen({ host: '127.0.0.1', port: 0 })))
    const events = (n: 0 | 1) => `${urls[n]}/orders/1008/events?machine=16327129`
    const opened = async (n: 0 | 1) => {
      const stream = await openEventStream(t, events(n))
      if (stream.status === 200) await stream.next()
      else await stream.text()
      return stream
    }
    const first = await opened(0)
    const second = await opened(1)
    t.same([first.status, second.status], [200, 200], 'one stream on each replica')
    const refused = await Promise.all([opened(0), opened(1)])
    t.same(refused.map((stream) => stream.status), [429, 429], 'a third is refused on either replica, though each holds only one')
    const { etag } = (await replicas[1].inject({ url: HELD })).headers
    const poll = await replicas[1].inject({ url: HELD, headers: { 'if-none-match': String(etag), prefer: 'wait=30' } })
    t.equal(poll.statusCode, 429, 'so is a long poll')
    t.match(poll.json(), { code: 'RATE_LIMITED', detail: /EVENTS_MAX_PER_CLIENT/ })

    first.close()
    // the replica learns of the closed stream when its socket closes; its release reaches Redis just after
    let reopened: Awaited<ReturnType<typeof opened>> | undefined
    await until(async () => (reopened = await opened(1)).status === 200, { everyMs: 50, what: 'the closed stream\'s slot free on the other replica' })
    t.pass('the slot given back on one replica is taken on the other')
    second.close()
    reopened!.close()

    // long polls alone: once the streams' slots are back, one held on each replica fills the client's share
    const { Redis } = await import('ioredis')
    const raw = new Redis(redis.url, { keyPrefix: `test-${redis.port}:` })
    t.teardown(() => raw.disconnect())
    await until(async () => await raw.zcard(clientSlotsKey('ip:127.0.0.1')) === 0, { what: 'every stream\'s slot back in Redis' })
    const held = replicas.map((_, n) => holdPoll(urls[n]!, String(etag)))
    await until(() => replicas.every((replica) => replica.watchers.size === 1), { what: 'a long poll held on each replica' })
    t.same([(await opened(0)).status, (await opened(1)).status], [429, 429], 'two long polls, one per replica, leave no stream for the client')
    held[0]!.leave()
    await until(async () => (reopened = await opened(1)).status === 200, { everyMs: 50, what: 'the long poll\'s slot free' })
    t.pass('a long poll that ends gives its slot back to the fleet')
    reopened!.close()
    held[1]!.leave()
  })
})
