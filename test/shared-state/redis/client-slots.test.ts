import t, { type Test } from 'tap'
import { CLOCK_SKEW_MS } from '../../../src/shared-state/redis/outcome-codec.js'
import { clientSlotsKey, createRedisClientSlots } from '../../../src/shared-state/redis/client-slots.js'
import { fakeClock, type FakeClock } from '../../fixtures/clock.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { until } from '../../helper.js'
import { replicaParts } from './fixtures/trust.js'

const PREFIX = 'client-slots-test:'
const LEASE_MS = 1000
const CLIENT = 'key:3f1c0a9e'

/**
 * A replica's client slots on the Redis at url: at most `max` per client, slots living LEASE_MS,
 * expiries and renewals on `clock` (one clock for the replicas of a test, as if theirs agreed).
 * REDIS_SLOW_MS and the timeout far above a round trip: what these tests fail over is Redis, not its speed.
 */
async function replica (t: Test, url: string, clock: Pick<FakeClock, 'now' | 'setTimer' | 'clearTimer'>, max = 2, leaseMs = LEASE_MS) {
  const { link, reject } = await replicaParts(t, url, PREFIX, { commandTimeoutMs: 1000, latency: { slowMs: 1000 } })
  return { link, reject, slots: createRedisClientSlots({ link, reject, max, now: clock.now, leaseMs, timers: clock }) }
}

async function raw (t: Test, url: string) {
  const { Redis } = await import('ioredis')
  const client = new Redis(url)
  t.teardown(() => client.disconnect())
  return client
}

const KEY = `${PREFIX}${clientSlotsKey(CLIENT)}`

t.test('client slots on Redis', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('two replicas share one count per client, under a key that does not name the client', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock(1_000_000)
    const a = await replica(t, redis.url, clock)
    const b = await replica(t, redis.url, clock)
    t.type(await a.slots.take(CLIENT), 'function')
    t.type(await b.slots.take(CLIENT), 'function', 'the other replica takes the second')
    t.equal(await a.slots.take(CLIENT), undefined, 'the third is refused on one replica...')
    t.equal(await b.slots.take(CLIENT), undefined, '...and on the other')
    t.type(await b.slots.take('key:another'), 'function', 'another client has its own')
    const client = await raw(t, redis.url)
    const keys = await client.keys('*')
    t.ok(keys.includes(KEY), 'one sorted set per client, under the prefix')
    t.match(KEY, /^client-slots-test:client-slots:[0-9a-f]{32}$/)
    t.notOk(keys.some((key) => key.includes(CLIENT)), 'the client key itself is nowhere in Redis')
    t.equal(await client.zcard(KEY), 2)
    t.ok(await client.pttl(KEY) > 0, 'with a TTL')
    t.same([a.reject.seen, b.reject.seen], [[], []], 'nothing to repair')
  })

  t.test('a slot given back is free again for every replica, once however often it is given back', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock(1_000_000)
    const a = await replica(t, redis.url, clock)
    const b = await replica(t, redis.url, clock)
    const release = (await a.slots.take(CLIENT))!
    await b.slots.take(CLIENT)
    t.equal(await b.slots.take(CLIENT), undefined)
    const client = await raw(t, redis.url)
    release()
    release()
    await until(async () => await client.zcard(KEY) === 1, { what: 'the release reached Redis' })
    t.type(await b.slots.take(CLIENT), 'function', 'the other replica takes the freed slot')
    t.equal(await b.slots.take(CLIENT), undefined, 'the second release freed nothing more')
  })

  t.test('a live holder keeps its slots past their lease: renewed every third of it; once it gives them all back it stops', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock(1_000_000)
    const a = await replica(t, redis.url, clock)
    const b = await replica(t, redis.url, clock)
    const releases = [(await a.slots.take(CLIENT))!, (await a.slots.take(CLIENT))!]
    await clock.advance(5 * LEASE_MS)
    t.equal(await b.slots.take(CLIENT), undefined, 'five leases on, still held')
    const client = await raw(t, redis.url)
    await client.del(KEY)
    await clock.advance(LEASE_MS / 2)
    t.equal(await client.zcard(KEY), 2, 'slots lost in Redis (a restart, a deleted key) are added again: their streams are open')
    for (const release of releases) release()
    t.equal(clock.pending(), 0, 'no renewal timer once nothing is held')
    await until(async () => await client.exists(KEY) === 0, { what: 'the releases reached Redis' })
  })

  t.test('a replica that dies holding slots (no release, no renewal) loses them within one lease', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock(1_000_000)
    const a = await replica(t, redis.url, clock)
    const b = await replica(t, redis.url, clock)
    await a.slots.take(CLIENT)
    await a.slots.take(CLIENT)
    await clock.advance(2 * LEASE_MS)
    t.equal(await b.slots.take(CLIENT), undefined, 'held while its holder renews')
    // as good as a SIGKILL: the connection goes, nothing is given back
    await a.link.close()
    await until(() => !a.link.isUp(), { what: 'the dead replica\'s link down' })
    await clock.advance(LEASE_MS)
    t.type(await b.slots.take(CLIENT), 'function', 'one lease after the last renewal, its slots are free')
    t.type(await b.slots.take(CLIENT), 'function')
    t.equal(await b.slots.take(CLIENT), undefined, 'and the count is the client\'s again')
  })

  t.test('on the wall clock too: a dead replica\'s slots come free once their lease runs out', async (t) => {
    const redis = await startRedisServer(t)
    const wall = { now: Date.now, setTimer: (fn: () => unknown, ms: number) => setTimeout(fn, ms).unref(), clearTimer: (timer: unknown) => { clearTimeout(timer as NodeJS.Timeout) } }
    const a = await replica(t, redis.url, wall, 1, 200)
    const b = await replica(t, redis.url, wall, 1, 200)
    t.type(await a.slots.take(CLIENT), 'function')
    await a.link.close()
    await until(async () => await b.slots.take(CLIENT) !== undefined, { what: 'the dead replica\'s slot free' })
    t.pass('taken by the live replica')
  })

  t.test('what no replica could have written never holds a client out for more than a lease, repaired and counted', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock(1_000_000)
    const { link, reject, slots } = await replica(t, redis.url, clock)
    const client = await raw(t, redis.url)
    const now = clock.now()
    const plants: Record<string, [() => Promise<unknown>, string]> = {
      'a string': [async () => await client.set(KEY, 'full'), 'wrongtype'],
      'a hash': [async () => await client.hset(KEY, 'a', '1'), 'wrongtype'],
      'slots expiring next year': [async () => await client.zadd(KEY, now + 365 * 86_400_000, 'x', now + 365 * 86_400_000, 'y'), 'future'],
      'slots that never expire': [async () => await client.zadd(KEY, '+inf', 'x', '+inf', 'y'), 'future'],
      'slots just past a lease and the skew': [async () => await client.zadd(KEY, now + LEASE_MS + CLOCK_SKEW_MS + 1, 'x', now + LEASE_MS + CLOCK_SKEW_MS + 1, 'y'), 'future'],
      'a key without a TTL, its slots expired': [async () => await client.zadd(KEY, now - 1, 'x', now - 1, 'y'), 'ttl']
    }
    for (const [name, [plant, reason]] of Object.entries(plants)) {
      await client.del(KEY)
      await plant()
      const seen = reject.seen.length
      const release = await slots.take(CLIENT)
      t.type(release, 'function', `${name}: the take gets a slot`)
      t.same(reject.seen.slice(seen), [[reason, 'client slots']], `${name}: counted as ${reason}`)
      t.ok(link.isUp(), `${name}: Redis still counts as up`)
      t.equal(await client.type(KEY), 'zset', `${name}: repaired`)
      const ttl = await client.pttl(KEY)
      t.ok(ttl > 0 && ttl <= LEASE_MS + CLOCK_SKEW_MS, `${name}: a TTL of a lease and the skew at most (${ttl} ms)`)
      release!()
    }
  })

  t.test('slots within a lease but in a key without a TTL hold for that lease only', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock(1_000_000)
    const { reject, slots } = await replica(t, redis.url, clock)
    const client = await raw(t, redis.url)
    const expiry = clock.now() + LEASE_MS
    await client.zadd(KEY, expiry, 'x', expiry, 'y')
    t.equal(await slots.take(CLIENT), undefined, 'as good as a replica\'s slots: they count while they last')
    t.same(reject.seen, [['ttl', 'client slots']], 'the missing TTL counted')
    t.ok(await client.pttl(KEY) > 0, 'and given one')
    await clock.advance(LEASE_MS + 1)
    t.type(await slots.take(CLIENT), 'function', 'a lease later, free')
  })

  t.test('Redis down: each replica counts alone, in memory; what it took there is given back there', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock(1_000_000)
    const { link, slots } = await replica(t, redis.url, clock)
    const shared = (await slots.take(CLIENT))!
    await redis.kill()
    await until(() => !link.isUp(), { what: 'the link noticed' })
    const local = (await slots.take(CLIENT))!
    t.type(local, 'function', 'the first of this replica\'s own two')
    t.type(await slots.take(CLIENT), 'function', 'the slot held in Redis is not counted here')
    t.equal(await slots.take(CLIENT), undefined, 'beyond max in memory: refused')
    shared()
    t.equal(await slots.take(CLIENT), undefined, 'giving back a slot of Redis frees none in memory')
    local()
    t.type(await slots.take(CLIENT), 'function', 'giving back one of memory does')
  })

  t.test('a take slower than REDIS_TIMEOUT_MS marks Redis down and is counted in memory instead', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock(1_000_000)
    const { link, reject } = await replicaParts(t, redis.url, PREFIX, { commandTimeoutMs: 100, latency: { slowMs: 1000 } })
    const slots = createRedisClientSlots({ link, reject, max: 1, now: clock.now, leaseMs: LEASE_MS, timers: clock })
    const client = await raw(t, redis.url)
    t.type(await slots.take(CLIENT), 'function')
    // scripts wait while writes are paused
    await client.call('CLIENT', 'PAUSE', '10000', 'WRITE')
    t.type(await slots.take(CLIENT), 'function', 'this replica\'s own count, empty')
    t.notOk(link.isUp(), 'Redis counts as down')
    await client.call('CLIENT', 'UNPAUSE')
    await until(() => link.isUp())
    t.equal(await slots.take(CLIENT), undefined, 'the shared count again, full')
  })
})
