import t, { type Test } from 'tap'
import { loadConfig } from '../../../src/config/config.js'
import type { Outcome } from '../../../src/orders/outcome.js'
import type { LinkLog } from '../../../src/shared-state/redis/link.js'
import { createRedisSharedState } from '../../../src/shared-state/redis/shared-state.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { until } from '../../helper.js'
import { order } from '../../orders/fixtures/read-through.js'
import { QUIET } from '../../fixtures/logger.js'
import { LEASE_MS } from '../../../src/shared-state/redis/lease-renewal.js'
import { SIGNING_KEY, signerFor } from './fixtures/trust.js'

const KEY = '54:16327129'

/** The shared state of a replica on the Redis at url: VENDOR_TIMEOUT_MS 1000 and REDIS_TIMEOUT_MS 250 make a lease token good for 1500 ms. */
function replica (t: Test, url: string, log: LinkLog = QUIET) {
  const config = loadConfig({ REDIS_URL: url, REDIS_KEY_PREFIX: 'state-test:', REDIS_TIMEOUT_MS: '250', VENDOR_TIMEOUT_MS: '1000', REDIS_SIGNING_KEY: SIGNING_KEY })
  const state = createRedisSharedState({ ...config, redis: config.redis! }, { log })
  t.teardown(() => state.close())
  return state
}

t.test('the shared state on Redis', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('two replicas share outcomes, vendor calls, watchers\' news and budgets', async (t) => {
    const redis = await startRedisServer(t)
    const a = replica(t, redis.url)
    const b = replica(t, redis.url)
    t.notOk(a.isShared(), 'not before it starts')
    await Promise.all([a.start(), b.start()])
    t.ok(a.isShared() && b.isShared())
    const { Redis } = await import('ioredis')
    const raw = new Redis(redis.url)
    t.teardown(() => raw.disconnect())
    await until(async () => (await raw.pubsub('NUMSUB', 'state-test:outcomes', 'state-test:changes'))[3] === 2)

    const stored: Outcome = { kind: 'order', order: order(55), storedAt: Date.now(), freshMs: 1000 }
    await a.outcomeStore.set('55:16327129', stored, 60_000)
    t.same(await b.outcomeStore.get('55:16327129'), { outcome: stored, tier: 'redis' }, 'stored by one, read by the other')

    let lockLeftMs = 0
    let tokenLeftMs = 0
    const coalesced: Outcome = { ...stored, order: order(54), freshMs: 1000 }
    const held = await a.coalescing(KEY, async () => {
      const lock = `state-test:lock:${KEY}`
      lockLeftMs = await raw.pttl(lock)
      tokenLeftMs = Number(signerFor('state-test:').open(`lock:${KEY}`, (await raw.get(lock))!)?.split('.')[1]) - Date.now()
      return coalesced
    })
    t.equal(held.tier, 'vendor')
    t.ok(lockLeftMs > 0 && lockLeftMs <= LEASE_MS, `the lease lives LEASE_MS, renewed while its holder works (${lockLeftMs} ms left)`)
    t.ok(tokenLeftMs > 1000 && tokenLeftMs <= 1500, `its token outlives the vendor deadline and the store's write (${tokenLeftMs} ms left)`)
    await until(async () => (await b.outcomeStore.get(KEY)) !== undefined)
    t.match(await b.outcomeStore.get(KEY), { outcome: coalesced, tier: 'memory' }, 'the other replica keeps what it was told in memory')

    const changed = new Promise<string>((resolve) => { b.watchBus.onChange((key) => { resolve(key) }) })
    a.watchBus.publishChange(KEY, coalesced)
    t.equal(await changed, KEY, 'a change one replica saw reaches the other\'s watchers')

    const counts: number[] = []
    for (const state of [a, b]) {
      const Store = state.rateLimitStore({ maxEntries: 10 })
      await new Promise<void>((resolve) => { new Store({}).incr('ip:192.0.2.1', (_error, result) => { counts.push(result!.current); resolve() }, 60_000, 5) })
    }
    t.same(counts, [1, 2], 'one budget')

    await a.close()
    await until(() => !a.isShared())
    t.ok(b.isShared(), 'the other replica keeps its link')
  })

  t.test('Redis not there at start: the replica starts, says so once, and works alone', async (t) => {
    const redis = await startRedisServer(t)
    await redis.kill()
    const warnings: string[] = []
    const state = replica(t, redis.url, { info: () => {}, warn: (_obj: object, msg: string) => { warnings.push(msg) } })
    await state.start()
    t.notOk(state.isShared())
    t.same(warnings, ['Redis not reachable at start: answering from this replica\'s memory until it is'])
    t.same(await state.coalescing(KEY, async () => ({ kind: 'order', order: order(54), storedAt: 0, freshMs: 1 })), { outcome: { kind: 'order', order: order(54), storedAt: 0, freshMs: 1 }, tier: 'vendor' })
  })
  t.test('without REDIS_SIGNING_KEY (never in production) the process signs with a key of its own, and says so at start', async (t) => {
    const redis = await startRedisServer(t)
    const warnings: string[] = []
    const config = loadConfig({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'state-test:' })
    const state = createRedisSharedState({ ...config, redis: config.redis! }, { log: { info: () => {}, warn: (_obj: object, msg: string) => { warnings.push(msg) } } })
    t.teardown(() => state.close())
    await state.start()
    t.match(warnings, [/^REDIS_SIGNING_KEY unset: this process signs what it shares with a random key of its own/])
    const keyed = replica(t, redis.url)
    await keyed.start()
    const stored: Outcome = { kind: 'order', order: order(56), storedAt: Date.now(), freshMs: 1000 }
    await state.outcomeStore.set('56:16327129', stored, 60_000)
    t.equal(await keyed.outcomeStore.get('56:16327129'), undefined, 'a replica with the fleet\'s key does not take it')
  })
})
