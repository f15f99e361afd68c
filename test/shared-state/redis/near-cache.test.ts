import t, { type Test } from 'tap'
import { loadConfig } from '../../../src/config/config.js'
import type { OrderOutcome, Outcome } from '../../../src/orders/outcome.js'
import { createReadThrough, REFRESH_INTERVAL_MS } from '../../../src/orders/read-through.js'
import { OUTCOMES_CHANNEL } from '../../../src/shared-state/redis/coalescing.js'
import { sealMessage } from '../../../src/shared-state/redis/messages.js'
import { toStored } from '../../../src/shared-state/redis/outcome-codec.js'
import { sealOutcome } from '../../../src/shared-state/redis/outcome-store.js'
import type { RejectionReason } from '../../../src/shared-state/redis/rejections.js'
import { createRedisSharedState } from '../../../src/shared-state/redis/shared-state.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { fakeClock, QUIET, until } from '../../helper.js'
import { order } from '../../orders/fixtures/read-through.js'
import { FRESHNESS, SIGNING_KEY, signerFor } from './fixtures/trust.js'

// The memory tier as a near cache (src/shared-state/redis/outcome-store.ts): two replicas'
// shared state on a real redis-server, on one fake clock, each counting the GETs it sends.

const PREFIX = 'near-cache-test:'
const KEY = '54:16327129'
const FRESH_MS = 1000
const KEEP_MS = FRESH_MS + 60_000

/** Order 54 as the vendor answered it at `storedAt`: `status` tells two answers apart. */
const answer = (storedAt: number, status: 'NOTPAY' | 'SUCCESS' = 'NOTPAY', terminal = false): OrderOutcome =>
  ({ kind: 'order', order: { ...order(54, terminal), status: terminal ? 'CLOSED' : status }, storedAt, freshMs: FRESH_MS })

async function twoReplicas (t: Test) {
  const redis = await startRedisServer(t)
  const { Redis } = await import('ioredis')
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  const clock = fakeClock(Date.now())
  const config = loadConfig({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX, REDIS_TIMEOUT_MS: '1000', REDIS_SLOW_MS: '900', CACHE_FRESH_MS: String(FRESH_MS), REDIS_SIGNING_KEY: SIGNING_KEY })
  const replica = async () => {
    /** the call, then its lease released (after its message): the next call takes the lease at once */
    const called = async (key: string, work: () => Promise<Outcome>) => {
      await state.coalescing(key, work)
      await until(async () => await raw.exists(`${PREFIX}lock:${key}`) === 0, { what: 'the lease released' })
    }
    let gets = 0
    const rejected: RejectionReason[] = []
    const states: boolean[] = []
    const state = createRedisSharedState({ ...config, redis: config.redis! }, {
      log: QUIET,
      now: clock.now,
      onCommand: (command) => { if (command === 'get') gets++ },
      onRejected: (reason) => { rejected.push(reason) },
      onSharedState: (up) => { states.push(up) }
    })
    t.teardown(() => state.close())
    await state.start()
    t.ok(state.isShared(), 'on Redis')
    const store = state.outcomeStore
    return {
      state,
      rejected,
      states,
      /** GETs sent since the last look */
      gets: () => { const sent = gets; gets = 0; return sent },
      get: async (key = KEY) => await store.get(key),
      /** this replica's vendor call, as read-through makes it: kept in the store, published by coalescing */
      call: async (outcome: Outcome, key = KEY) => { await called(key, async () => { await store.set(key, outcome, KEEP_MS); return outcome }) },
      /** a vendor call whose outcome reaches the others by its message only: nothing written to Redis */
      callUnstored: async (outcome: Outcome, key = KEY) => { await called(key, async () => outcome) }
    }
  }
  const a = await replica()
  const b = await replica()
  await until(async () => (await raw.pubsub('NUMSUB', `${PREFIX}${OUTCOMES_CHANNEL}`))[1] === 2, { what: 'both subscribed' })
  let markers = 0
  return {
    raw,
    clock,
    a,
    b,
    /** publishes on the outcomes channel as anyone with PUBLISH can */
    publish: async (message: string) => await raw.publish(`${PREFIX}${OUTCOMES_CHANNEL}`, message),
    /**
     * Resolves once `listener` has heard a genuine message A sends after everything published so
     * far: a subscriber hears the channel's messages in the order Redis took them.
     */
    heardSoFar: async (listener = b) => {
      const key = `${9000 + ++markers}:16327129`
      await a.callUnstored({ ...answer(clock.now()), order: order(9000 + markers) }, key)
      await until(async () => (await listener.get(key))?.tier === 'memory', { what: 'the marker heard' })
    }
  }
}

t.test('the memory tier as a near cache', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('an outcome heard on the channel answers from memory for its whole freshness, without a GET', async (t) => {
    const { a, b, clock } = await twoReplicas(t)
    const heard = answer(clock.now())
    await a.callUnstored(heard)
    // nothing in Redis: B can only have it from the message
    await until(async () => (await b.get())?.tier === 'memory', { what: 'the outcome heard' })
    b.gets()
    await clock.advance(FRESH_MS - 1)
    t.same((await b.get())?.outcome, heard, 'the same outcome, 1 ms before its freshness ends...')
    t.equal((await b.get())?.tier, 'memory', '...from memory')
    t.equal(b.gets(), 0, 'no GET: past the quarter of its freshness too')
    await clock.advance(1)
    await b.get()
    t.equal(b.gets(), 1, 'once it is no longer fresh, Redis is asked again')
  })

  t.test('this replica\'s own vendor call is covered as well', async (t) => {
    const { a, clock, heardSoFar } = await twoReplicas(t)
    const own = answer(clock.now())
    await a.call(own)
    // A hears its own message too: as old as its copy, it leaves it as it is
    await heardSoFar(a)
    a.gets()
    await clock.advance(FRESH_MS - 1)
    const hit = await a.get()
    t.equal(hit?.tier, 'memory')
    t.equal(hit?.outcome, own, 'the very object it stored: nothing decoded again, its representation reused')
    t.equal(a.gets(), 0, 'no GET for its whole freshness')
  })

  t.test('a memory hit is the object kept when the outcome entered the replica: no schema read, no signature check', async (t) => {
    const { a, b, clock } = await twoReplicas(t)
    await a.call(answer(clock.now()))
    await until(async () => (await b.get())?.tier === 'memory', { what: 'B keeps it' })
    const first = (await b.get())?.outcome
    await clock.advance(FRESH_MS / 2)
    t.equal((await b.get())?.outcome, first, 'the same object, hit after hit')
  })

  t.test('a forced refresh (a delivery callback\'s wake-up) reaches the other replica like any vendor call', async (t) => {
    const { a, b, clock } = await twoReplicas(t)
    let status: 'NOTPAY' | 'SUCCESS' = 'NOTPAY'
    const readThrough = createReadThrough({
      store: a.state.outcomeStore,
      coalescing: a.state.coalescing,
      rules: { ...FRESHNESS, staleMs: 60_000 },
      now: clock.now,
      load: async () => ({ ...order(54), status })
    })
    await readThrough(54, '16327129', QUIET)
    await until(async () => (await b.get())?.tier === 'memory', { what: 'B keeps the first answer' })
    b.gets()
    await clock.advance(REFRESH_INTERVAL_MS)
    status = 'SUCCESS'
    const refreshed = await readThrough(54, '16327129', QUIET, { refresh: true, priority: 'wake' })
    t.equal(refreshed.result, 'miss', 'A asked the vendor, though its copy was fresh')
    await until(async () => (await b.get())?.outcome.storedAt === refreshed.outcome.storedAt, { what: 'B answers the refreshed order' })
    t.match((await b.get())?.outcome, { kind: 'order', order: { status: 'SUCCESS' } })
    t.equal(b.gets(), 0, 'by its message')
  })

  t.test('a change made through one replica reaches the other\'s answer by its message, not by a GET', async (t) => {
    const { a, b, clock } = await twoReplicas(t)
    await a.call(answer(clock.now()))
    // read from Redis or heard, whichever came first: kept, covered
    await until(async () => (await b.get())?.tier === 'memory', { what: 'B keeps the first answer' })
    b.gets()
    await clock.advance(100)
    const paid = answer(clock.now(), 'SUCCESS')
    await a.call(paid)
    await until(async () => (await b.get())?.outcome.storedAt === paid.storedAt, { what: 'B answers the change' })
    const got = await b.get()
    t.same(got?.outcome, paid, 'B answers the new outcome...')
    t.equal(got?.tier, 'memory', '...from memory')
    t.equal(b.gets(), 0, 'B learnt of it from the message alone')
  })

  t.test('an outcome heard late never takes the place of a newer one', async (t) => {
    const { a, b, clock, publish, heardSoFar } = await twoReplicas(t)
    const older = answer(clock.now(), 'NOTPAY')
    await clock.advance(100)
    const newer = answer(clock.now(), 'SUCCESS')
    await a.call(newer)
    await until(async () => (await b.get())?.outcome.storedAt === newer.storedAt, { what: 'the newer heard' })
    // a genuine message of an earlier answer, arriving after the newer one (as a delayed replica would send it)
    await publish(sealMessage(signerFor(PREFIX), OUTCOMES_CHANNEL, { key: KEY, outcome: toStored(KEY, older) }, clock.now()))
    await heardSoFar()
    t.same((await b.get())?.outcome, newer, 'the newer outcome stays')

    // a terminal order is not replaced by a non-terminal answer as old as it
    const closed = answer(clock.now(), 'NOTPAY', true)
    await a.call(closed)
    await until(async () => (await b.get())?.outcome.storedAt === closed.storedAt, { what: 'the terminal order heard' })
    await publish(sealMessage(signerFor(PREFIX), OUTCOMES_CHANNEL, { key: KEY, outcome: toStored(KEY, { ...closed, order: order(54) }) }, clock.now()))
    await heardSoFar()
    t.same((await b.get())?.outcome, closed, 'still the terminal order')
    t.same(b.rejected, [], 'neither message was rejected: both were genuine, and ignored')
  })

  t.test('a forged or unreadable message changes nothing in memory', async (t) => {
    const { a, b, clock, publish, heardSoFar } = await twoReplicas(t)
    const genuine = answer(clock.now())
    await a.call(genuine)
    await until(async () => (await b.get())?.tier === 'memory', { what: 'B keeps it' })
    await clock.advance(1)
    const forged = { key: KEY, outcome: toStored(KEY, { ...answer(clock.now(), 'SUCCESS'), order: { ...order(54), status: 'SUCCESS', amount: '999.00' } }) }
    await publish(sealMessage(signerFor(PREFIX, 'not-the-fleet-key-0123456789abcdefgh'), OUTCOMES_CHANNEL, forged, clock.now()))
    await publish(sealMessage(signerFor(PREFIX), OUTCOMES_CHANNEL, { key: KEY, outcome: { ...forged.outcome, kind: 'order', order: { id: 54, status: 42 } } }, clock.now()))
    await publish(JSON.stringify(forged))
    await heardSoFar()
    t.same(b.rejected, ['signature', 'schema', 'signature'], 'each rejected')
    b.gets()
    const got = await b.get()
    t.same(got?.outcome, genuine, 'the genuine outcome stays...')
    t.equal(got?.tier, 'memory', '...still covered:')
    t.equal(b.gets(), 0, 'it answers without a GET')
  })

  t.test('after the subscriber reconnects, copies kept before are uncovered: Redis is asked until it answers again', async (t) => {
    const { raw, a, b, clock } = await twoReplicas(t)
    const first = answer(clock.now())
    await a.call(first)
    await until(async () => (await b.get())?.tier === 'memory', { what: 'B keeps it' })
    // a newer value in Redis that no message announced: what a message lost while a subscriber was away leaves behind
    await clock.advance(FRESH_MS / 2)
    const unheard = answer(clock.now(), 'SUCCESS')
    await raw.set(`${PREFIX}outcome:${KEY}`, sealOutcome(signerFor(PREFIX), KEY, unheard), 'PX', KEEP_MS)
    b.gets()
    t.same((await b.get())?.outcome, first, 'while its subscription holds, B trusts its copy past the quarter of its freshness...')
    t.equal(b.gets(), 0, '...without a GET')

    await raw.client('KILL', 'TYPE', 'pubsub')
    await until(() => b.states.includes(false) && b.state.isShared(), { what: 'B down, then back with a new subscription' })
    t.same(await b.get(), { outcome: unheard, tier: 'redis' }, 'back up, its copy answers for the first quarter only: B asks Redis and finds the value it never heard of')
    t.equal(b.gets(), 1)
    t.equal((await b.get())?.tier, 'memory', 'what Redis answered is covered again')
    t.equal(b.gets(), 0)
  })

  t.test('a copy kept while Redis is unreachable is uncovered once it is back', async (t) => {
    const { raw, b, clock } = await twoReplicas(t)
    await raw.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
    await until(() => !b.state.isShared(), { what: 'B down' })
    // kept at once, while down: nothing reaches Redis
    const alone = answer(clock.now())
    await b.state.outcomeStore.set(KEY, alone, KEEP_MS)
    await until(() => b.state.isShared(), { what: 'B back' })
    b.gets()
    await clock.advance(FRESH_MS / 4 - 1)
    t.equal((await b.get())?.tier, 'memory', 'its own copy answers for the first quarter...')
    t.equal(b.gets(), 0)
    await clock.advance(1)
    const got = await b.get()
    t.equal(b.gets(), 1, '...then Redis is asked')
    t.same(got?.outcome, alone, 'it has nothing (the write was made while it was down): the copy answers')
    await b.get()
    t.equal(b.gets(), 1, 'and stays uncovered: an empty key says nothing of a message lost meanwhile')
  })
})
