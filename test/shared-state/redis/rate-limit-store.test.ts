import type { FastifyRateLimitStore } from '@fastify/rate-limit'
import t, { type Test } from 'tap'
import { redisRateLimitStore } from '../../../src/shared-state/redis/rate-limit-store.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { until } from '../../helper.js'
import { replicaParts } from './fixtures/trust.js'

const PREFIX = 'rate-limit-test:'
const WINDOW_MS = 60_000

function count (store: FastifyRateLimitStore, key: string): Promise<{ current: number, ttl: number }> {
  return new Promise((resolve, reject) => { store.incr(key, (error, result) => { if (error === null) resolve(result!); else reject(error) }, WINDOW_MS, 3) })
}

/** A replica's store on the Redis at url, its memory counters on the given clock. */
async function replicaStore (t: Test, url: string, now: () => number) {
  const { link, reject } = await replicaParts(t, url, PREFIX, { commandTimeoutMs: 100 })
  const Store = redisRateLimitStore(link, reject, { maxEntries: 10, now })
  return { link, reject, store: new Store({}) }
}

t.test('the rate-limit store on Redis', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('two replicas count one budget, in Redis under the key prefix', async (t) => {
    const redis = await startRedisServer(t)
    const a = await replicaStore(t, redis.url, () => 0)
    const b = await replicaStore(t, redis.url, () => 0)
    t.equal((await count(a.store, 'ip:192.0.2.1')).current, 1)
    const second = await count(b.store, 'ip:192.0.2.1')
    t.equal(second.current, 2, 'the other replica continues the count')
    t.ok(second.ttl > 0 && second.ttl <= WINDOW_MS, `the window's time left (${second.ttl} ms)`)
    t.equal((await count(b.store, 'ip:192.0.2.2')).current, 1, 'another client has its own')
    const { Redis } = await import('ioredis')
    const raw = new Redis(redis.url)
    t.teardown(() => raw.disconnect())
    t.equal(await raw.get(`${PREFIX}rate-limit:ip:192.0.2.1`), '2')
  })

  t.test('Redis down: each replica counts alone, in memory, on its clock', async (t) => {
    const redis = await startRedisServer(t)
    await redis.kill()
    let now = 1000
    const { link, store } = await replicaStore(t, redis.url, () => now)
    t.notOk(link.isUp())
    t.same(await count(store, 'ip:192.0.2.1'), { current: 1, ttl: WINDOW_MS })
    now += 400
    t.same(await count(store, 'ip:192.0.2.1'), { current: 2, ttl: WINDOW_MS - 400 })
  })

  t.test('a count that fails marks Redis down and is counted in memory instead', async (t) => {
    const redis = await startRedisServer(t)
    const { link, store } = await replicaStore(t, redis.url, () => 0)
    t.equal((await count(store, 'ip:192.0.2.1')).current, 1)
    const { Redis } = await import('ioredis')
    const raw = new Redis(redis.url)
    t.teardown(() => raw.disconnect())
    // scripts wait while writes are paused: the count outlives REDIS_TIMEOUT_MS
    await raw.call('CLIENT', 'PAUSE', '10000', 'WRITE')
    t.equal((await count(store, 'ip:192.0.2.1')).current, 1, 'a fresh count of this replica\'s own')
    t.notOk(link.isUp(), 'Redis counts as down')
    await raw.call('CLIENT', 'UNPAUSE')
    await until(() => link.isUp())
    t.equal((await count(store, 'ip:192.0.2.1')).current, 3, 'the shared count again once a PING answers (the timed-out count ran when writes resumed)')
  })
  t.test('a counter Redis cannot count is repaired by the count, not taken for Redis down', async (t) => {
    const redis = await startRedisServer(t)
    const { link, reject, store } = await replicaStore(t, redis.url, () => 0)
    const { Redis } = await import('ioredis')
    const raw = new Redis(redis.url, { keyPrefix: `${PREFIX}rate-limit:` })
    t.teardown(() => raw.disconnect())
    const plants: Record<string, [() => Promise<unknown>, string]> = {
      'not a number': [async () => await raw.set('ip:192.0.2.1', 'many'), 'not_integer'],
      'a hash': [async () => await raw.hset('ip:192.0.2.1', 'count', '1'), 'wrongtype'],
      'below zero, no TTL': [async () => await raw.set('ip:192.0.2.1', '-1000000'), 'not_integer'],
      // a client limited forever
      'over the limit, no TTL': [async () => await raw.set('ip:192.0.2.1', '1000'), 'ttl'],
      'over the limit for a day': [async () => await raw.set('ip:192.0.2.1', '1000', 'PX', 86_400_000), 'ttl']
    }
    for (const [name, [plant, reason]] of Object.entries(plants)) {
      await raw.del('ip:192.0.2.1')
      await plant()
      const seen = reject.seen.length
      const counted = await count(store, 'ip:192.0.2.1')
      if (reason === 'ttl') t.same(counted, { current: 1001, ttl: WINDOW_MS }, `${name}: counted, in a window of RATE_LIMIT_WINDOW_MS`)
      else t.same(counted, { current: 1, ttl: WINDOW_MS }, `${name}: a fresh count`)
      t.same(reject.seen.slice(seen), [[reason, 'rate-limit counter']], `${name}: counted as ${reason}`)
      t.ok(link.isUp(), `${name}: Redis still counts as up`)
      t.ok(await raw.pttl('ip:192.0.2.1') > 0, `${name}: the key has its window again`)
    }
    t.equal((await count(store, 'ip:192.0.2.1')).current, 1002, 'and counts on from there')
    t.equal(reject.seen.length, Object.keys(plants).length, 'a repaired counter is no rejection again')
  })
})
