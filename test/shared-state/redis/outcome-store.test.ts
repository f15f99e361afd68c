import t, { type Test } from 'tap'
import { createMemoryOutcomeStore } from '../../../src/shared-state/memory/outcome-store.js'
import type { Outcome } from '../../../src/orders/outcome.js'
import { encodeOutcome } from '../../../src/shared-state/redis/outcome-codec.js'
import { createRedisOutcomeStore, LOCAL_SHARE_OF_FRESHNESS, openOutcome, outcomeKey, sealOutcome } from '../../../src/shared-state/redis/outcome-store.js'
import { createSigner } from '../../../src/shared-state/redis/signing.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { until } from '../../helper.js'
import { OPTIONS, order } from '../../orders/fixtures/read-through.js'
import { FRESHNESS, replicaParts, SIGNING_KEY, signerFor } from './fixtures/trust.js'

const PREFIX = 'store-test:'
const KEY = '54:16327129'

/** Two replicas' stores on one Redis, on one hand-driven clock, and a plain client to plant values with. */
async function twoStores (t: Test) {
  const redis = await startRedisServer(t)
  let now = Date.now()
  const clock = () => now
  const store = async () => {
    const parts = await replicaParts(t, redis.url, PREFIX, { now: clock })
    t.ok(parts.link.isUp())
    return { ...parts, store: createRedisOutcomeStore({ ...parts, local: createMemoryOutcomeStore({ ...OPTIONS, now: clock }), staleMs: OPTIONS.staleMs }) }
  }
  const { Redis } = await import('ioredis')
  const raw = new Redis(redis.url, { keyPrefix: PREFIX })
  t.teardown(() => raw.disconnect())
  return { redis, raw, a: await store(), b: await store(), tick: (ms: number) => { now += ms }, now: clock }
}

t.test('the Redis outcome store', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('one replica\'s outcome is the other\'s; kept in memory while the link holds, it answers for its whole freshness', async (t) => {
    const { a, b, tick, now } = await twoStores(t)
    const outcome: Outcome = { kind: 'order', order: order(54), storedAt: now(), freshMs: 1000 }
    await a.store.set(KEY, outcome, 61_000)
    const shared = await b.store.get(KEY)
    t.same(shared, { outcome, tier: 'redis' }, 'read back through the schema, equal')
    t.equal((await b.store.get(KEY))?.tier, 'memory', 'then from its own memory...')
    tick(999)
    t.equal((await b.store.get(KEY))?.tier, 'memory', '...for the whole freshness (a change would be heard: test/shared-state/redis/near-cache.test.ts)')
    t.equal((await a.store.get(KEY))?.tier, 'memory', 'the writer too')
    tick(1)
    t.equal((await b.store.get(KEY))?.tier, 'redis', 'then Redis is asked')
  })

  t.test('a copy kept while the link was down answers for a quarter of its freshness, then Redis again', async (t) => {
    const { a, b, tick, now } = await twoStores(t)
    const outcome: Outcome = { kind: 'order', order: order(54), storedAt: now(), freshMs: 1000 }
    await a.store.set(KEY, outcome, 61_000)
    // heard, then the link lost: what was published while it was down may not have been heard
    b.store.remember(KEY, outcome)
    b.link.reportFailure(new Error('test: down'))
    await until(() => b.link.isUp(), { what: 'B back' })
    t.equal((await b.store.get(KEY))?.tier, 'memory', 'from its own memory...')
    tick(1000 * LOCAL_SHARE_OF_FRESHNESS)
    t.equal((await b.store.get(KEY))?.tier, 'redis', '...for a quarter of the freshness only')
  })

  t.test('a kept error travels as its codes and is answered in the reader\'s words', async (t) => {
    const { a, b, now } = await twoStores(t)
    const { AppError } = await import('../../../src/errors/catalogue.js')
    await a.store.set('99999:16327129', { kind: 'error', error: new AppError('ORDER_NOT_FOUND', { detail: 'No order 99999.', vendorCode: 80002 }), storedAt: now(), freshMs: 2000 }, 2000)
    const kept = await b.store.get('99999:16327129')
    t.match(kept, { tier: 'redis', outcome: { kind: 'error', error: { code: 'ORDER_NOT_FOUND', status: 404, detail: 'The vendor has no such order.', vendorCode: 80002 } } })
  })

  t.test('what Redis holds is signed over its key and contents: a forged value under a key is a miss', async (t) => {
    const { raw, b, now } = await twoStores(t)
    const forged: Outcome = { kind: 'order', order: { ...order(99), tradeId: 'FORGED', amount: '999.00' }, storedAt: now(), freshMs: 60_000 }
    const genuine: Outcome = { kind: 'order', order: order(99), storedAt: now(), freshMs: 1000 }
    const plants: Record<string, string> = {
      // as the finding planted it: our format, no signature
      'unsigned, another order': JSON.stringify({ kind: 'order', order: forged.order, storedAt: now(), freshMs: 60_000 }),
      'signed with another key': signerFor(PREFIX, 'not-the-fleet-key-0123456789abcdefgh').seal(outcomeKey(KEY), encodeOutcome(KEY, forged)),
      'signed under another prefix': signerFor('another-deployment:').seal(outcomeKey(KEY), encodeOutcome(KEY, forged)),
      // a genuine value of order 99, copied to order 54's key: signed for its own key only
      'moved from another key': sealOutcome(signerFor(PREFIX), '99:16327129', genuine),
      'tampered after signing': sealOutcome(signerFor(PREFIX), KEY, { ...genuine, order: order(54) }).replace('"amount":"1.00"', '"amount":"999.00"'),
      garbage: 'not json'
    }
    for (const [name, value] of Object.entries(plants)) {
      await raw.set(outcomeKey(KEY), value)
      t.equal(await b.store.get(KEY), undefined, `${name}: a miss`)
    }
    t.same(b.reject.seen, Object.keys(plants).map(() => ['signature', 'outcome']), 'each counted as a signature that does not verify')
    t.ok(b.link.isUp(), 'bad data is not a Redis failure')
  })

  t.test('signed, then checked: the order and key it names, its time, its freshness', async (t) => {
    const { raw, b, now } = await twoStores(t)
    const fleet = signerFor(PREFIX)
    const plant = async (stored: object) => { await raw.set(outcomeKey(KEY), fleet.seal(outcomeKey(KEY), JSON.stringify(stored))) }
    const times = { storedAt: now(), freshMs: 1000 }
    // signed with the fleet's key (a bug, a leaked key): still not served for a key it does not belong to
    await plant({ key: KEY, kind: 'order', order: { ...order(99), tradeId: 'FORGED' }, ...times })
    t.equal(await b.store.get(KEY), undefined, 'order 99 under order 54\'s key')
    await plant({ key: '54:16327128', kind: 'order', order: order(54), ...times })
    t.equal(await b.store.get(KEY), undefined, 'another machine\'s order 54')
    await plant({ key: KEY, kind: 'order', order: { ...order(54), status: 42 }, ...times })
    t.equal(await b.store.get(KEY), undefined, 'not an order of ours')
    await plant({ key: KEY, kind: 'order', order: order(54), storedAt: now() + 10 * 365 * 86_400_000, freshMs: 315_360_000_000 })
    t.equal(await b.store.get(KEY), undefined, 'stored ten years from now')
    t.same(b.reject.seen.map(([reason]) => reason), ['mismatch', 'mismatch', 'schema', 'future'])

    await plant({ key: KEY, kind: 'order', order: order(54), storedAt: now() + 1000, freshMs: 315_360_000_000 })
    const kept = await b.store.get(KEY)
    t.same(kept?.outcome, { kind: 'order', order: order(54), storedAt: now(), freshMs: OPTIONS.freshMs },
      'a clock a second ahead is within the allowance: taken as now, fresh for CACHE_FRESH_MS, not ten years')
  })

  t.test('a key of another type is a miss for that key, not a Redis failure, and the next write repairs it', async (t) => {
    const { raw, a, b, now } = await twoStores(t)
    await raw.hset(outcomeKey(KEY), 'kind', 'order')
    t.equal(await b.store.get(KEY), undefined, 'a miss')
    t.ok(b.link.isUp(), 'Redis still counts as up')
    t.same(b.reject.seen, [['wrongtype', 'outcome']])
    const outcome: Outcome = { kind: 'order', order: order(54), storedAt: now(), freshMs: 1000 }
    await a.store.set(KEY, outcome, 61_000)
    t.equal(await raw.type(outcomeKey(KEY)), 'string', 'overwritten by the next write')
    t.same(await b.store.get(KEY), { outcome, tier: 'redis' })
  })

  t.test('Redis down: memory answers alone, writes do not fail', async (t) => {
    const { redis, a, now } = await twoStores(t)
    const outcome: Outcome = { kind: 'order', order: order(7), storedAt: now(), freshMs: 1000 }
    await redis.kill()
    await a.store.set('7:16327129', outcome, 61_000)
    t.notOk(a.link.isUp(), 'the failed write marked Redis down')
    t.match(await a.store.get('7:16327129'), { outcome, tier: 'memory' })
  })
})

t.test('a value longer than any outcome of the fleet is a miss for its size, before its signature is checked', async (t) => {
  const bounded = createSigner({ current: SIGNING_KEY }, PREFIX, { maxChars: 2048 })
  const limits = { freshness: FRESHNESS, now: Date.now }
  const outcome: Outcome = { kind: 'order', order: order(54), storedAt: Date.now(), freshMs: 1000 }
  t.match(openOutcome(bounded, KEY, sealOutcome(bounded, KEY, outcome), limits), { value: { kind: 'order' } }, 'an order of ours fits')
  const planted = sealOutcome(bounded, KEY, { ...outcome, order: { ...order(54), tradeId: 'x'.repeat(4096) } })
  t.same(openOutcome(bounded, KEY, planted, limits), { rejected: 'size' })
})
