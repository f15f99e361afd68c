import t, { type Test } from 'tap'
import { BUCKET_KEY, createRedisCallTokens, REPLICAS_KEY } from '../../../src/shared-state/redis/call-budget.js'
import type { CallBudgetLimits } from '../../../src/upstream/call-budget.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { answerOrder, buildTestApp, startUpstream, until } from '../../helper.js'
import { replicaParts } from './fixtures/trust.js'

const PREFIX = 'call-budget-test:'

// one call every 10 s: whatever the machine's speed, the bucket does not refill between two takes of a test
const SLOW: CallBudgetLimits = { perSecond: 0.1, burst: 1, reserve: 0 }

/** A replica's budget on the Redis at url; its own share, while Redis is down, on the given clock. */
async function replica (t: Test, url: string, limits: CallBudgetLimits, now: () => number = Date.now) {
  const { link, reject } = await replicaParts(t, url, PREFIX, { commandTimeoutMs: 100 })
  return { link, reject, tokens: createRedisCallTokens({ link, reject, limits, now }) }
}

async function raw (t: Test, url: string) {
  const { Redis } = await import('ioredis')
  const client = new Redis(url)
  t.teardown(() => client.disconnect())
  return client
}

t.test('the vendor call budget on Redis', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('two replicas take from one bucket, under the key prefix', async (t) => {
    const redis = await startRedisServer(t)
    const a = await replica(t, redis.url, SLOW)
    const b = await replica(t, redis.url, SLOW)
    t.equal(await a.tokens.take(false), 0, 'the one call of the bucket')
    const wait = await b.tokens.take(false)
    t.ok(wait > 9000 && wait <= 10_000, `the other replica finds it taken: the next call in ${wait} ms`)
    t.ok(await a.tokens.take(false) > 0, 'and so does the first')
    const client = await raw(t, redis.url)
    t.match(await client.hgetall(`${PREFIX}${BUCKET_KEY}`), { level: String, at: String }, 'one hash under the prefix')
    t.equal(await client.zcard(`${PREFIX}${REPLICAS_KEY}`), 2, 'both replicas noted as takers')
  })

  t.test('a background take leaves the reserve in the shared bucket', async (t) => {
    const redis = await startRedisServer(t)
    const limits = { perSecond: 0.1, burst: 3, reserve: 2 }
    const a = await replica(t, redis.url, limits)
    const b = await replica(t, redis.url, limits)
    t.equal(await a.tokens.take(true), 0)
    t.ok(await b.tokens.take(true) > 0, 'two left: only for requests and wake-ups')
    t.equal(await b.tokens.take(false), 0)
    t.equal(await a.tokens.take(false), 0)
    t.ok(await a.tokens.take(false) > 0, 'the bucket is empty')
  })

  t.test('under load from both, the two stay within burst + perSecond × T together', async (t) => {
    const redis = await startRedisServer(t)
    const limits = { perSecond: 20, burst: 10, reserve: 5 }
    const a = await replica(t, redis.url, limits)
    const b = await replica(t, redis.url, limits)
    const started = performance.now()
    let taken = 0
    // each replica asks 150 times as fast as Redis answers, half of them background takes
    await Promise.all([a, b].map(async ({ tokens }) => {
      for (let i = 0; i < 150; i++) if (await tokens.take(i % 2 === 0) === 0) taken += 1
    }))
    const seconds = (performance.now() - started) / 1000
    t.ok(taken <= 10 + 20 * seconds + 1, `${taken} calls in ${seconds.toFixed(2)} s: within 10 + 20 × T for the two together`)
    t.ok(taken >= 10, 'the burst at least')
  })

  t.test('Redis down: each replica takes from its share, R / the replicas it last saw', async (t) => {
    const redis = await startRedisServer(t)
    let now = 0
    const limits = { perSecond: 10, burst: 5, reserve: 2 }
    const a = await replica(t, redis.url, limits, () => now)
    const b = await replica(t, redis.url, limits, () => now)
    await a.tokens.take(false)
    await b.tokens.take(false)
    await a.tokens.take(false)
    await redis.kill()
    await until(() => !a.link.isUp(), { what: 'the link noticed' })
    // 5 a second alone (budgetLimits(5)): 2 at once, one of them kept back from background takes, then one every 200 ms
    t.same([await a.tokens.take(true), await a.tokens.take(true), await a.tokens.take(true)], [0, 200, 200], 'background leaves the reserve of its share')
    t.same([await a.tokens.take(false), await a.tokens.take(false)], [0, 200])
    now += 200
    t.equal(await a.tokens.take(false), 0, 'refilled at 5 a second, on this replica\'s clock')
  })

  t.test('a replica that never reached Redis counts itself alone: the whole budget', async (t) => {
    const redis = await startRedisServer(t)
    await redis.kill()
    const a = await replica(t, redis.url, { perSecond: 10, burst: 5, reserve: 2 }, () => 0)
    t.notOk(a.link.isUp())
    const waits = []
    for (let i = 0; i < 6; i++) waits.push(await a.tokens.take(false))
    // budgetLimits(10): 2 at once, then one every 100 ms
    t.same(waits, [0, 0, 100, 100, 100, 100])
  })

  t.test('two app instances on one Redis: together within one budget of 10 a second, 5 + 10 × T calls in T seconds', async (t) => {
    const redis = await startRedisServer(t)
    const upstream = await startUpstream(t, (req, res) => { answerOrder(req, res, { status: 'NOTPAY' }) })
    // no cache: every request is a vendor call, and each waits for the budget at most 1 s (half of 5 s is more)
    const settings = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `budget-${redis.port}:`, VENDOR_MAX_CALLS_PER_SECOND: '10', VENDOR_TIMEOUT_MS: '5000' }
    const apps = [await buildTestApp(t, upstream.url, {}, {}, settings), await buildTestApp(t, upstream.url, {}, {}, settings)]
    for (const app of apps) t.ok(app.sharedState.isShared(), 'the instance reached Redis')
    const started = performance.now()
    // 40 requests for 40 different orders at each instance at once: far more than the budget
    const answers = await Promise.all(apps.flatMap((app, n) => Array.from({ length: 40 }, (_, i) => app.inject({ url: `/orders/${1 + n * 100 + i}?machine=16327129` }))))
    const seconds = (performance.now() - started) / 1000
    const calls = upstream.requests.length
    t.ok(calls <= 5 + 10 * seconds + 1, `${calls} vendor calls in ${seconds.toFixed(2)} s: within 5 + 10 × T for both together (two budgets of their own would allow twice that)`)
    const served = answers.filter((res) => res.statusCode === 200)
    const refused = answers.filter((res) => res.statusCode === 503 && res.json().code === 'UPSTREAM_BUDGET_SPENT' && res.headers['retry-after'] === '1')
    t.equal(served.length + refused.length, 80, 'every answer is the order or 503 UPSTREAM_BUDGET_SPENT with Retry-After: 1')
    t.equal(served.length, calls, 'one vendor call per order served, none for a refused one')
    t.ok(refused.length > 0, 'the budget was spent')
  })

  t.test('a take slower than REDIS_TIMEOUT_MS marks Redis down and is taken from the share instead', async (t) => {
    const redis = await startRedisServer(t)
    const a = await replica(t, redis.url, SLOW, () => 0)
    t.equal(await a.tokens.take(false), 0)
    const client = await raw(t, redis.url)
    // scripts wait while writes are paused
    await client.call('CLIENT', 'PAUSE', '10000', 'WRITE')
    t.equal(await a.tokens.take(false), 0, 'this replica\'s own bucket, full')
    t.notOk(a.link.isUp(), 'Redis counts as down')
    await client.call('CLIENT', 'UNPAUSE')
    await until(() => a.link.isUp())
    t.ok(await a.tokens.take(false) > 0, 'the shared bucket again, empty: the timed-out take ran when writes resumed')
  })
  t.test('a bucket no replica could have left is reset to a full one by the take that finds it, not taken for Redis down', async (t) => {
    const redis = await startRedisServer(t)
    const { link, reject, tokens } = await replica(t, redis.url, SLOW)
    const client = await raw(t, redis.url)
    const bucket = `${PREFIX}${BUCKET_KEY}`
    const future = String(Date.now() + 365 * 86_400_000)
    const plants: Record<string, [() => Promise<unknown>, string]> = {
      // an empty bucket until next year: every call refused
      'refilled a year from now': [async () => await client.hset(bucket, 'level', '0', 'at', future), 'future'],
      'a million calls in it': [async () => await client.hset(bucket, 'level', '1000000', 'at', String(Date.now())), 'schema'],
      'a level that is no number': [async () => await client.hset(bucket, 'level', 'lots', 'at', String(Date.now())), 'schema'],
      'a string': [async () => await client.set(bucket, 'full'), 'wrongtype'],
      'takers noted next year': [async () => await client.zadd(`${PREFIX}${REPLICAS_KEY}`, future, 'x', future, 'y'), 'future']
    }
    for (const [name, [plant, reason]] of Object.entries(plants)) {
      await client.del(bucket, `${PREFIX}${REPLICAS_KEY}`)
      await plant()
      const seen = reject.seen.length
      t.equal(await tokens.take(false), 0, `${name}: the take finds a full bucket of ${SLOW.burst}`)
      t.same(reject.seen.slice(seen), [[reason, 'call budget']], `${name}: counted as ${reason}`)
      t.ok(link.isUp(), `${name}: Redis still counts as up`)
      t.ok(await tokens.take(false) > 0, `${name}: and counts on from there`)
    }
  })
})
