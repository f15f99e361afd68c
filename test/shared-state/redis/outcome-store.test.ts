import t, { type Test } from 'tap'
import { createMemoryOutcomeStore } from '../../../src/shared-state/memory/outcome-store.js'
import type { Outcome } from '../../../src/orders/outcome.js'
import { createRedisOutcomeStore, LOCAL_SHARE_OF_FRESHNESS } from '../../../src/shared-state/redis/outcome-store.js'
import { createRedisLink } from '../../../src/shared-state/redis/link.js'
import { QUIET } from '../../fixtures/logger.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { OPTIONS, order } from '../../orders/fixtures/read-through.js'

/** Two replicas' stores on one Redis, on one hand-driven clock. */
async function twoStores (t: Test) {
  const redis = await startRedisServer(t)
  let now = Date.now()
  const clock = () => now
  const store = async () => {
    const link = createRedisLink({ url: redis.url, keyPrefix: 'store-test:', commandTimeoutMs: 250 }, QUIET)
    t.teardown(() => link.close())
    await link.connect()
    t.ok(link.isUp())
    return { link, store: createRedisOutcomeStore({ link, local: createMemoryOutcomeStore({ ...OPTIONS, now: clock }), staleMs: OPTIONS.staleMs, now: clock }) }
  }
  return { redis, a: await store(), b: await store(), tick: (ms: number) => { now += ms }, now: clock }
}

t.test('the Redis outcome store', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('one replica\'s outcome is the other\'s; its own copy answers for a quarter of the freshness, then Redis again', async (t) => {
    const { a, b, tick, now } = await twoStores(t)
    const outcome: Outcome = { kind: 'order', order: order(54), storedAt: now(), freshMs: 1000 }
    await a.store.set('54:16327129', outcome, 61_000)
    const shared = await b.store.get('54:16327129')
    t.same(shared, { outcome, tier: 'redis' }, 'read back through the schema, equal')
    t.equal((await b.store.get('54:16327129'))?.tier, 'memory', 'then from its own memory...')
    tick(1000 * LOCAL_SHARE_OF_FRESHNESS)
    t.equal((await b.store.get('54:16327129'))?.tier, 'redis', '...for a quarter of the freshness only')
    t.equal((await a.store.get('54:16327129'))?.tier, 'redis', 'the writer too')
  })

  t.test('a kept error travels as its code and detail', async (t) => {
    const { a, b, now } = await twoStores(t)
    const { AppError } = await import('../../../src/errors/catalogue.js')
    await a.store.set('99999:16327129', { kind: 'error', error: new AppError('ORDER_NOT_FOUND', { detail: 'No order 99999.', vendorCode: 80002 }), storedAt: now(), freshMs: 2000 }, 2000)
    const kept = await b.store.get('99999:16327129')
    t.match(kept, { tier: 'redis', outcome: { kind: 'error', error: { code: 'ORDER_NOT_FOUND', status: 404, detail: 'No order 99999.', vendorCode: 80002 } } })
  })

  t.test('what does not parse is no outcome: garbage, or an order that breaks the schema', async (t) => {
    const { a, b } = await twoStores(t)
    await a.link.client.set('outcome:1:16327129', 'not json')
    await a.link.client.set('outcome:2:16327129', JSON.stringify({ kind: 'order', order: { id: -1 }, storedAt: 1, freshMs: 1 }))
    t.equal(await b.store.get('1:16327129'), undefined)
    t.equal(await b.store.get('2:16327129'), undefined)
    t.ok(b.link.isUp(), 'bad data is not a Redis failure')
  })

  t.test('Redis down: memory answers alone, writes do not fail', async (t) => {
    const { redis, a, now } = await twoStores(t)
    const outcome: Outcome = { kind: 'order', order: order(7), storedAt: now(), freshMs: 1000 }
    await redis.kill()
    await a.store.set('7:16327129', outcome, 61_000)
    t.notOk(a.link.isUp(), 'the failed write marked Redis down')
    t.same(await a.store.get('7:16327129'), { outcome, tier: 'memory' })
  })
})
