import type { FastifyRateLimitStore } from '@fastify/rate-limit'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { localShare, redisRateLimitStore, SEND_EVERY_MS } from '../../../src/shared-state/redis/rate-limit-store.js'
import { fakeClock, type FakeClock } from '../../fixtures/clock.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { until } from '../../helper.js'
import { replicaParts } from './fixtures/trust.js'

// The local-first budget: a replica admits on what Redis last said plus what it admitted since,
// and sends its admissions in the background. Budgets of 20 and more (L = max / 20 >= 1).

const PREFIX = 'rate-limit-share:'
const WINDOW_MS = 60_000
const MAX = 100
const L = localShare(MAX)
const KEY = 'ip:192.0.2.1'
const REDIS_KEY = `${PREFIX}rate-limit:${KEY}`

interface Counted { current: number, ttl: number }

/** A replica's store on the Redis at url, on the given clock (a fake one by default), counting the counts it sends. */
async function replicaStore (t: Test, url: string, clock: Pick<FakeClock, 'now' | 'setTimer' | 'clearTimer'> = fakeClock(), commandTimeoutMs = 250) {
  let counts = 0
  const { link, reject } = await replicaParts(t, url, PREFIX, { commandTimeoutMs, latency: { onCommand: (command) => { if (command === 'count') counts++ } } })
  const Store = redisRateLimitStore(link, reject, { maxEntries: 10, now: clock.now }, clock)
  const store: FastifyRateLimitStore = new Store({})
  const incr = (key = KEY, max = MAX, windowMs = WINDOW_MS): Promise<Counted> =>
    new Promise((resolve, reject) => { store.incr(key, (error, result) => { if (error === null) resolve(result!); else reject(error) }, windowMs, max) })
  return { link, reject, incr, counts: () => counts }
}

async function rawRedis (t: Test, url: string) {
  const { Redis } = await import('ioredis')
  const raw = new Redis(url)
  t.teardown(() => raw.disconnect())
  return raw
}

const admitted = (answers: Counted[], max = MAX): number => answers.filter(({ current }) => current <= max).length

t.test('the local-first rate-limit budget', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('L is a twentieth of the budget; under 20, none (every request counted in Redis)', async (t) => {
    t.same([1, 19, 20, 39, 40, 120, 1_000_000].map(localShare), [0, 0, 1, 1, 2, 6, 50_000])
  })

  t.test('one store alone admits exactly max, with one count in Redis per L requests', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock()
    const replica = await replicaStore(t, redis.url, clock)
    const raw = await rawRedis(t, redis.url)
    const answers: Counted[] = []
    for (let i = 0; i < MAX + 30; i++) answers.push(await replica.incr())
    t.same(answers.slice(0, MAX).map(({ current }) => current), Array.from({ length: MAX }, (_, i) => i + 1), 'counted 1, 2, ... max, in order')
    t.equal(admitted(answers), MAX, 'exactly max admitted')
    t.ok(answers.slice(MAX).every(({ current, ttl }) => current > MAX && ttl > 0 && ttl <= WINDOW_MS), 'then refused, with the window\'s time left')
    // the opening count, then one per L admissions (the last ones wait for the timer)
    t.equal(replica.counts(), 1 + Math.floor((MAX - 1) / L), `${replica.counts()} counts in Redis for ${MAX + 30} requests`)
    t.equal(Number(await raw.get(REDIS_KEY)), 1 + L * Math.floor((MAX - 1) / L), 'Redis has what was sent')
    await clock.advance(SEND_EVERY_MS)
    await until(() => replica.counts() === 2 + Math.floor((MAX - 1) / L))
    await until(async () => Number(await raw.get(REDIS_KEY)) === MAX)
    t.pass('the rest sent within SEND_EVERY_MS; refusals are not counted')
  })

  t.test('concurrent requests on one store: exactly max too', async (t) => {
    const redis = await startRedisServer(t)
    const replica = await replicaStore(t, redis.url)
    const answers = await Promise.all(Array.from({ length: MAX * 2 }, () => replica.incr()))
    t.equal(admitted(answers), MAX)
    t.ok(replica.counts() <= 1 + Math.ceil(MAX / L), `${replica.counts()} counts in Redis for ${MAX * 2} requests at once`)
  })

  t.test('fewer than L admissions are sent SEND_EVERY_MS after the first, in one count for every key', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock()
    const replica = await replicaStore(t, redis.url, clock)
    const raw = await rawRedis(t, redis.url)
    const keys = ['ip:192.0.2.1', 'ip:192.0.2.2', 'ip:192.0.2.3']
    for (const key of keys) await replica.incr(key)
    t.equal(replica.counts(), 3, 'each opening counted in Redis')
    for (let i = 0; i < L - 1; i++) for (const key of keys) await replica.incr(key)
    await clock.advance(SEND_EVERY_MS - 1)
    t.equal(replica.counts(), 3, 'nothing sent before SEND_EVERY_MS')
    t.equal(clock.pending(), 1, 'one timer for the store, not one per key')
    await clock.advance(1)
    await until(() => replica.counts() === 6)
    t.same(await Promise.all(keys.map((key) => raw.get(`${PREFIX}rate-limit:${key}`))), keys.map(() => String(L)), 'each key\'s admissions in Redis')
    await clock.advance(10 * SEND_EVERY_MS)
    t.equal(replica.counts(), 6, 'and nothing more to send')
    t.equal(clock.pending(), 0, 'no timer left')
  })

  t.test('budgets are bounded: past maxEntries a new client is counted in Redis on every request, until windows end', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock()
    // maxEntries: 10 (replicaStore)
    const replica = await replicaStore(t, redis.url, clock)
    for (let i = 0; i < 10; i++) for (let j = 0; j < 2; j++) await replica.incr(`ip:192.0.2.${i}`)
    t.equal(replica.counts(), 10, 'ten clients, one count each, then local')
    const eleventh = []
    for (let j = 0; j < 3; j++) eleventh.push((await replica.incr('ip:198.51.100.1')).current)
    t.same(eleventh, [1, 2, 3], 'the eleventh is still counted exactly')
    t.equal(replica.counts(), 13, 'in Redis, request by request')
    // the ten clients' admissions sent, then their windows end
    await clock.advance(SEND_EVERY_MS)
    await until(() => replica.counts() === 23)
    await clock.advance(WINDOW_MS)
    const before = replica.counts()
    for (let j = 0; j < 3; j++) await replica.incr('ip:198.51.100.2')
    t.equal(replica.counts() - before, 1, 'once the others\' windows ended, a new client has a budget again: one count, then local')
  })

  t.test('two replicas: the other replica\'s L unsent is all the fleet admits over max, and it is reached', async (t) => {
    const redis = await startRedisServer(t)
    const a = await replicaStore(t, redis.url)
    const b = await replicaStore(t, redis.url)
    t.equal((await b.incr()).current, 1, 'b learns the count: 1')
    const fromA: Counted[] = []
    for (let i = 0; i < MAX + 10; i++) fromA.push(await a.incr())
    t.equal(admitted(fromA), MAX - 1, 'a admits the rest of max, exactly')
    const fromB: Counted[] = []
    for (let i = 0; i < L + 10; i++) fromB.push(await b.incr())
    t.equal(admitted(fromB), L, 'b, on the count it learned, admits L more before Redis tells it the budget is spent')
    t.equal(1 + admitted(fromA) + admitted(fromB), MAX + L, 'max + (N-1)·L, N = 2')
  })

  t.test('two replicas hammering one key at once admit at least max and at most max + L', async (t) => {
    const redis = await startRedisServer(t)
    const replicas = [await replicaStore(t, redis.url), await replicaStore(t, redis.url)]
    const answers: Counted[] = []
    for (let round = 0; round < 30; round++) {
      answers.push(...await Promise.all(Array.from({ length: 10 }, (_, i) => replicas[(i + round) % 2]!.incr())))
    }
    const total = admitted(answers)
    t.ok(total >= MAX && total <= MAX + L, `${total} admitted of ${answers.length}, max ${MAX}, L ${L}`)
    t.ok(answers.every(({ current, ttl }) => current <= MAX || (ttl > 0 && ttl <= WINDOW_MS)), 'every refusal says when to retry')
    const counts = replicas[0]!.counts() + replicas[1]!.counts()
    t.ok(counts <= 2 + Math.ceil((MAX + L) / L), `${counts} counts in Redis: an opening on each, then one per L admissions`)
  })

  t.test('at L unsent, requests wait for Redis\'s answer, and a count that fails sends them to the memory store', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock()
    const replica = await replicaStore(t, redis.url, clock, 100)
    const raw = await rawRedis(t, redis.url)
    for (let i = 0; i < L; i++) await replica.incr()
    await raw.call('CLIENT', 'PAUSE', '10000', 'WRITE')
    // the L-th local admission sends them; the next waits for that count, which times out
    await replica.incr()
    const waiting = replica.incr()
    t.same(await waiting, { current: 1, ttl: WINDOW_MS }, 'the waiter is counted in memory once the count fails')
    t.notOk(replica.link.isUp(), 'Redis counts as down')
    t.same(await replica.incr(), { current: 2, ttl: WINDOW_MS }, 'the memory store counts on, on the replica\'s clock')
    await raw.call('CLIENT', 'UNPAUSE')
  })

  t.test('Redis down: the memory store counts; what was not sent is dropped, and Redis counts afresh once back', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock()
    const replica = await replicaStore(t, redis.url, clock)
    for (let i = 0; i < 3; i++) await replica.incr()
    await redis.kill()
    await until(() => !replica.link.isUp())
    t.same(await replica.incr(), { current: 1, ttl: WINDOW_MS }, 'counted in memory')
    await clock.advance(SEND_EVERY_MS)
    t.equal(replica.counts(), 1, 'the unsent admissions were not sent')
    await redis.restart()
    await until(() => replica.link.isUp())
    t.equal((await replica.incr()).current, 1, 'a new count in Redis (this one had lost its keys), counted before it is answered')
    t.equal(replica.counts(), 2)
  })

  t.test('window rollover: a new window counts from 1, and admissions of the last one do not count in it', async (t) => {
    const redis = await startRedisServer(t)
    const windowMs = 1000
    const max = 20
    const replica = await replicaStore(t, redis.url, { now: () => performance.now(), setTimer: (fn, ms) => setTimeout(fn, ms), clearTimer: (timer) => { clearTimeout(timer as NodeJS.Timeout) } })
    const raw = await rawRedis(t, redis.url)
    const first: Counted[] = []
    for (let i = 0; i < max + 5; i++) first.push(await replica.incr(KEY, max, windowMs))
    t.equal(admitted(first, max), max)
    const { ttl } = first.at(-1)!
    await sleep(ttl + 20)
    t.same((await replica.incr(KEY, max, windowMs)).current, 1, 'the next window, counted from 1')
    t.equal(await raw.get(REDIS_KEY), '1', 'in Redis too')
    t.ok(await raw.pttl(REDIS_KEY) > windowMs - 500, 'with a window of its own')
  })

  t.test('admissions sent after their window ended in Redis are dropped, not counted in a new window', async (t) => {
    const redis = await startRedisServer(t)
    const clock = fakeClock()
    const replica = await replicaStore(t, redis.url, clock)
    const raw = await rawRedis(t, redis.url)
    for (let i = 0; i < 3; i++) await replica.incr()
    // Redis's clock ran ahead of this replica's: the key expired before the send
    await raw.del(REDIS_KEY)
    await clock.advance(SEND_EVERY_MS)
    await until(() => replica.counts() === 2)
    t.equal(await raw.exists(REDIS_KEY), 0, 'the key is not recreated by the send')
    t.equal((await replica.incr()).current, 1, 'the next request opens a new window, counted in Redis')
    t.equal(replica.counts(), 3)
  })

  t.test('a counter planted mid-window is repaired by the next send, and locks no client out past a window', async (t) => {
    const redis = await startRedisServer(t)
    const windowMs = 1000
    // windows on the real clock, as Redis's; the sends when the test says
    const timers = fakeClock()
    const replica = await replicaStore(t, redis.url, { now: () => performance.now(), setTimer: timers.setTimer, clearTimer: timers.clearTimer })
    const raw = await rawRedis(t, redis.url)
    const plants: Record<string, [() => Promise<unknown>, string]> = {
      'not a number': [async () => await raw.set(REDIS_KEY, 'many'), 'not_integer'],
      'a hash': [async () => await raw.hset(REDIS_KEY, 'count', '1'), 'wrongtype'],
      'below zero, no TTL': [async () => await raw.set(REDIS_KEY, '-1000000'), 'not_integer'],
      'over the limit, no TTL': [async () => await raw.set(REDIS_KEY, '1000'), 'ttl'],
      'over the limit for a day': [async () => await raw.set(REDIS_KEY, '1000', 'PX', 86_400_000), 'ttl']
    }
    for (const [name, [plant, reason]] of Object.entries(plants)) {
      await raw.del(REDIS_KEY)
      await replica.incr(KEY, MAX, windowMs)
      await replica.incr(KEY, MAX, windowMs)
      await plant()
      const seen = replica.reject.seen.length
      await timers.advance(SEND_EVERY_MS)
      await until(() => replica.reject.seen.length > seen, { what: `${name} repaired by the send` })
      t.same(replica.reject.seen.slice(seen), [[reason, 'rate-limit counter']], `${name}: counted as ${reason}`)
      t.ok(replica.link.isUp(), `${name}: Redis still counts as up`)
      const pttl = await raw.pttl(REDIS_KEY)
      t.ok(pttl > 0 && pttl <= windowMs, `${name}: the key has a window again (${pttl} ms)`)
      if (reason !== 'ttl') continue
      const refused = await replica.incr(KEY, MAX, windowMs)
      t.ok(refused.current > MAX && refused.ttl <= windowMs, `${name}: refused, to retry within the window (${refused.ttl} ms)`)
      await sleep(refused.ttl + 20)
      t.equal((await replica.incr(KEY, MAX, windowMs)).current, 1, `${name}: admitted again once that window ended`)
    }
  })
})
