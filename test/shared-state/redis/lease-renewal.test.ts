import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import type { Outcome } from '../../../src/orders/outcome.js'
import { createRedisCoalescing, MIN_LEASE_WAIT_MS } from '../../../src/shared-state/redis/coalescing.js'
import type { RedisCommand } from '../../../src/shared-state/redis/latency.js'
import { LEASE_MS } from '../../../src/shared-state/redis/lease-renewal.js'
import { fakeClock, type FakeClock } from '../../fixtures/clock.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { startSlowProxy } from '../../fixtures/slow-proxy.js'
import { until } from '../../helper.js'
import { order } from '../../orders/fixtures/read-through.js'
import { replicaParts } from './fixtures/trust.js'

const PREFIX = 'lease-renewal-test:'
const KEY = '54:16327129'
const LOCK = `${PREFIX}lock:${KEY}`
const OUTCOME: Outcome = { kind: 'order', order: order(54), storedAt: 1_700_000_000_000, freshMs: 1000 }
/** A vendor deadline far past the slow calls here: what ends a wait in these tests is the holder, never the deadline. */
const LOCK_MS = 20 * LEASE_MS
const RENEW_EVERY_MS = Math.floor(LEASE_MS / 3)

/** Work that starts, counts itself and finishes only when the test opens it. */
function gatedWork () {
  let open!: () => void
  const opened = new Promise<void>((resolve) => { open = resolve })
  const work = { calls: 0, open: () => { open() }, run: async () => { work.calls++; await opened; return OUTCOME } }
  return work
}

async function rawClient (t: Test, url: string) {
  const { Redis } = await import('ioredis')
  const raw = new Redis(url)
  t.teardown(() => raw.disconnect())
  return raw
}

/**
 * A replica's coalescing on the Redis at url: its tokens' expiries and its renewals on `clock`
 * (the wall clock and real timers unless given), the commands it sent counted by label, and the
 * outcomes it was told. REDIS_SLOW_MS far above a round trip: what these tests fail is a holder, not Redis.
 */
async function replica (t: Test, url: string, { lockMs = LOCK_MS, clock }: { lockMs?: number, clock?: FakeClock } = {}) {
  const commands: RedisCommand[] = []
  const parts = await replicaParts(t, url, PREFIX, { commandTimeoutMs: 250, latency: { slowMs: 1000, onCommand: (command) => { commands.push(command) } } })
  const told: Outcome[] = []
  const coalesce = createRedisCoalescing({
    ...parts,
    lockMs,
    now: clock?.now ?? Date.now,
    ...(clock === undefined ? {} : { timers: clock }),
    onOutcome: (_key, outcome) => { told.push(outcome) }
  })
  return { ...parts, coalesce, told, looks: () => commands.filter((command) => command === 'lease').length }
}

t.test('a lease renewed by its live holder', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('the holder renews every third of a lease while its work runs, and leaves no timer once it is done', async (t) => {
    const redis = await startRedisServer(t)
    const raw = await rawClient(t, redis.url)
    const clock = fakeClock(Date.now())
    const holder = await replica(t, redis.url, { clock })
    t.equal(clock.pending(), 0, 'no timer before a lease is held')
    const work = gatedWork()
    const held = holder.coalesce(KEY, work.run)
    await until(() => work.calls === 1, { what: 'the holder at work' })
    t.equal(clock.pending(), 1, 'one renewal timer for the lease')
    t.ok(await raw.pttl(LOCK) <= LEASE_MS, 'taken for one lease')
    // five leases of the holder's clock: each third of a lease, the lease is given a whole one again
    for (let renewal = 1; renewal <= 15; renewal++) {
      await raw.pexpire(LOCK, LEASE_MS / 2)
      await clock.advance(RENEW_EVERY_MS)
      const left = await raw.pttl(LOCK)
      if (left <= LEASE_MS / 2) t.fail(`renewal ${renewal}: ${left} ms left`)
    }
    t.pass('renewed 15 times, a whole lease each time')
    work.open()
    t.same(await held, { outcome: OUTCOME, tier: 'vendor' })
    t.equal(clock.pending(), 0, 'no renewal timer left behind')
    await until(async () => await raw.exists(LOCK) === 0, { what: 'the lease released' })

    const failing = holder.coalesce(KEY, async () => { await clock.advance(RENEW_EVERY_MS); throw new Error('socket hang up') })
    await t.rejects(failing, /socket hang up/)
    t.equal(clock.pending(), 0, 'nor when the work fails')
  })

  t.test('a renewal that finds the lease another replica\'s stops renewing; the holder still finishes and publishes', async (t) => {
    const redis = await startRedisServer(t)
    const raw = await rawClient(t, redis.url)
    const clock = fakeClock(Date.now())
    const holder = await replica(t, redis.url, { clock })
    const other = await replica(t, redis.url)
    await until(async () => (await raw.pubsub('NUMSUB', `${PREFIX}outcomes`))[1] === 2)
    const work = gatedWork()
    const held = holder.coalesce(KEY, work.run)
    await until(() => work.calls === 1, { what: 'the holder at work' })
    // the lease ran out (a stall) and another replica took it over
    await raw.set(LOCK, 'another replica\'s token', 'PX', LEASE_MS / 2)
    await clock.advance(RENEW_EVERY_MS)
    t.equal(clock.pending(), 0, 'renewals stopped: no timer left')
    t.ok(await raw.pttl(LOCK) <= LEASE_MS / 2, 'the other replica\'s lease is not renewed')
    work.open()
    t.same(await held, { outcome: OUTCOME, tier: 'vendor' }, 'the holder finishes its call')
    await until(() => other.told.length === 1, { what: 'its outcome heard by the other replica' })
    t.equal(await raw.get(LOCK), 'another replica\'s token', 'and the other\'s lease is not released')

    const gone = gatedWork()
    const again = holder.coalesce('55:16327129', gone.run)
    await until(() => gone.calls === 1)
    await raw.del(`${PREFIX}lock:55:16327129`)
    await clock.advance(RENEW_EVERY_MS)
    t.equal(clock.pending(), 0, 'a lease found gone stops renewing too')
    t.equal(await raw.exists(`${PREFIX}lock:55:16327129`), 0, 'and is not brought back')
    gone.open()
    await again
  })

  t.test('a lease is never renewed past its token\'s expiry: however long the work, it lives lockMs at most', async (t) => {
    const redis = await startRedisServer(t)
    const raw = await rawClient(t, redis.url)
    const clock = fakeClock(Date.now())
    const lockMs = 2 * LEASE_MS
    const holder = await replica(t, redis.url, { clock, lockMs })
    const work = gatedWork()
    const held = holder.coalesce(KEY, work.run)
    await until(() => work.calls === 1)
    // renewals at 333, 666, 999, 1332 and 1665 ms: the last has 335 ms of the token left to give
    await clock.advance(5 * RENEW_EVERY_MS)
    const left = await raw.pttl(LOCK)
    t.ok(left > 0 && left <= lockMs - 5 * RENEW_EVERY_MS, `the last renewal gave only what the token had left (${left} ms)`)
    await clock.advance(lockMs)
    t.equal(clock.pending(), 0, 'no renewal past the token\'s expiry, no timer')
    await until(async () => await raw.exists(LOCK) === 0, { what: 'the lease lapsed' })
    work.open()
    t.same(await held, { outcome: OUTCOME, tier: 'vendor' })
  })

  t.test('a renewal that times out reports Redis failing, quietly; the holder finishes without it', async (t) => {
    const redis = await startRedisServer(t)
    const proxy = await startSlowProxy(t, redis.port, 0)
    const clock = fakeClock(Date.now())
    const holder = await replica(t, proxy.url, { clock })
    const work = gatedWork()
    const held = holder.coalesce(KEY, work.run)
    await until(() => work.calls === 1)
    // a round trip of 600 ms: past REDIS_TIMEOUT_MS (250 ms)
    proxy.setDelay(300)
    await clock.advance(RENEW_EVERY_MS)
    t.notOk(holder.link.isUp(), 'the timed-out renewal took the link down')
    await clock.advance(3 * RENEW_EVERY_MS)
    work.open()
    t.same(await held, { outcome: OUTCOME, tier: 'vendor' }, 'answered all the same')
    t.equal(clock.pending(), 0, 'no timer left behind')
  })

  t.test('a holder whose vendor call lasts five leases keeps its lease: the waiter on another replica never asks, and looks about once a lease', async (t) => {
    const redis = await startRedisServer(t)
    const raw = await rawClient(t, redis.url)
    const a = await replica(t, redis.url)
    const b = await replica(t, redis.url)
    await until(async () => (await raw.pubsub('NUMSUB', `${PREFIX}outcomes`))[1] === 2)
    let calls = 0
    // a slow vendor: the answer comes five leases after the question
    const slowVendor = async (): Promise<Outcome> => { calls++; await sleep(5 * LEASE_MS); return OUTCOME }
    const first = a.coalesce(KEY, slowVendor)
    await until(async () => await raw.exists(LOCK) === 1, { what: 'the lease held' })
    const started = performance.now()
    const waited = await b.coalesce(KEY, slowVendor)
    const waitedMs = performance.now() - started
    t.same(waited, { outcome: OUTCOME, tier: 'redis' }, 'the holder\'s outcome, through Redis')
    t.same(await first, { outcome: OUTCOME, tier: 'vendor' })
    t.equal(calls, 1, 'one vendor call: the lease was held all along')
    t.ok(a.looks() >= 5, `the holder renewed it ${a.looks() - 1} times`)
    // every look finds the lease renewed within the last third of it, so with two thirds of a lease left at least
    const looks = b.looks()
    t.ok(looks <= Math.ceil(waitedMs / MIN_LEASE_WAIT_MS), `${looks} looks in ${Math.round(waitedMs)} ms: never faster than MIN_LEASE_WAIT_MS`)
    t.ok(looks <= Math.ceil(waitedMs / (LEASE_MS / 2)) + 1, `${looks} looks in ${Math.round(waitedMs)} ms: about one a lease`)
  })

  t.test('a holder that dies is taken over within about a lease: the other replica asks while the dead one\'s call still hangs', async (t) => {
    const redis = await startRedisServer(t)
    const raw = await rawClient(t, redis.url)
    const a = await replica(t, redis.url)
    const b = await replica(t, redis.url)
    await until(async () => (await raw.pubsub('NUMSUB', `${PREFIX}outcomes`))[1] === 2)
    // the dead replica's call would end three leases on: a lease and slack for a busy machine
    let aEnded = false
    const dying = a.coalesce(KEY, async () => { await sleep(3 * LEASE_MS); aEnded = true; return OUTCOME })
    await until(async () => await raw.exists(LOCK) === 1, { what: 'the lease held' })
    // as good as a SIGKILL: the connection goes, no renewal reaches Redis, nothing is released
    await a.link.close()
    t.equal(await raw.exists(LOCK), 1, 'its lease outlives it')
    const started = performance.now()
    let askedWhileItHung: boolean | undefined
    const taken = await b.coalesce(KEY, async () => { askedWhileItHung = !aEnded; return OUTCOME })
    t.same(taken, { outcome: OUTCOME, tier: 'vendor' }, 'the other replica asked the vendor itself')
    t.equal(askedWhileItHung, true, `taken over while the dead holder's call still hung (${Math.round(performance.now() - started)} ms after its death)`)
    t.same(b.reject.seen, [], 'a lease run out is no rejection')
    await dying.catch(() => {})
  })
})
