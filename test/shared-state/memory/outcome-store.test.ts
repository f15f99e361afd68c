import t from 'tap'
import { loadConfig } from '../../../src/config/config.js'
import { AppError } from '../../../src/errors/catalogue.js'
import { buildTestApp, json, startUpstream, until } from '../../helper.js'
import { MiB, order, orderOf, setup } from '../../orders/fixtures/read-through.js'

t.test('the entry limit is respected, least recently used out first', async (t) => {
  const { store, get, calls } = setup({ maxEntries: 3 })
  for (const id of [1, 2, 3, 1, 4]) await get(id)
  t.equal(store.size, 3)
  calls.length = 0
  await get(1)
  await get(2)
  t.same(calls, ['2:16327129'], '1 was used recently and kept; 2 was evicted')
})

t.test('the byte limit holds while large orders come and go; a small order polled between them stays a hit', async (t) => {
  const { store, get, calls, answer } = setup({ maxBytes: 1 * MiB })
  answer(async (id) => order(id, false, id === 1 ? 0 : 400))
  t.equal((await get(1)).result, 'miss')
  for (let id = 2; id < 102; id++) {
    const large = await get(id)
    t.equal(orderOf(large).items.length, 400)
    t.ok(store.bytes <= 1 * MiB, `${store.bytes} bytes counted after order ${id}`)
    t.equal((await get(1)).result, 'hit', `order 1 still cached after order ${id}`)
  }
  t.ok(store.size < 20, `${store.size} entries kept: the bytes bound them, not CACHE_MAX_ENTRIES`)
  t.equal(calls.filter((c) => c.startsWith('1:')).length, 1, 'order 1 was fetched once')
})

t.test('through the service: large orders come and go within CACHE_MAX_BYTES, a small one polled between them stays cached', async (t) => {
  const upstream = await startUpstream(t, (req, res) => {
    const id = Number(/orders\/(\d+)/.exec(req.url ?? '')?.[1])
    const records = Array.from({ length: id === 54 ? 1 : 200 }, (_, i) => ({ id: id * 1000 + i, product_id: 121, quantity: 1, price: '1.00', status: 'IS_DELIVERING', notify_sent: '1' }))
    json(res, 200, { code: 0, data: { order_id: id, amount: '1.00', status: 'SUCCESS', records } })
  })
  const app = await buildTestApp(t, upstream.url, {}, {}, {
    CACHE_ENABLED: 'true',
    CACHE_MAX_BYTES: String(1 * MiB),
    CACHE_FRESH_MS: '600000',
    VENDOR_MAX_BODY_BYTES: String(1 * MiB),
    // correctness, not speed, is under test: a loaded machine must not turn a large answer into a 504
    VENDOR_TIMEOUT_MS: '60000'
  })
  const small = () => app.inject({ url: '/orders/54?machine=16327129' })
  t.match((await small()).headers['cache-status'], /fwd=miss; stored/)
  for (let id = 1000; id < 1040; id++) {
    const large = await app.inject({ url: `/orders/${id}?machine=16327129` })
    t.equal(large.statusCode, 200)
    t.equal(large.json().items.length, 200)
    t.match((await small()).headers['cache-status'], /; hit;/, `order 54 still a hit after order ${id}`)
  }
  t.equal(upstream.requests.filter((r) => r.url.endsWith('/orders/54')).length, 1, 'order 54 was fetched from the vendor once')
  t.match((await app.inject({ url: '/orders/1000?machine=16327129' })).headers['cache-status'], /fwd=miss/, 'the oldest large order was evicted')
})

t.test('an answer too large for its share of the bytes is served, not cached, and evicts nothing', async (t) => {
  const { store, get, calls, answer } = setup({ maxBytes: 1 * MiB })
  await get(1)
  const before = store.bytes
  // an eighth of 1 MiB at most; this body alone is about 190 KB
  answer(async (id) => order(id, false, 2000))
  const [huge, collapsed] = await Promise.all([get(2), get(2)])
  t.equal(orderOf(huge).items.length, 2000)
  t.equal(collapsed.result, 'coalesced', 'requests waiting on it get it too')
  t.equal(collapsed.outcome, huge.outcome)
  t.equal(store.bytes, before, 'not stored')
  t.equal((await get(1)).result, 'hit', 'and nothing was evicted for it')
  t.equal((await get(2)).result, 'miss', 'asked for again, it is fetched again')
  t.same(calls, ['1:16327129', '2:16327129', '2:16327129'])
})

t.test('expired entries are freed: orders CACHE_STALE_MS after their freshness, errors at once', async (t) => {
  const { store, get, tick, answer } = setup()
  for (let id = 1; id <= 10; id++) await get(id)
  answer(async (id) => order(id, true))
  await get(11)
  answer(async () => { throw new AppError('ORDER_NOT_FOUND', { vendorCode: 80002 }) })
  t.match(await get(12), { outcome: { kind: 'error', error: { code: 'ORDER_NOT_FOUND' } } })
  t.equal(store.size, 12)
  // asked for on the injected clock, an expired entry is gone and freed
  const kept = () => Array.from({ length: 12 }, (_, i) => `${i + 1}:16327129`).filter((key) => store.get(key) !== undefined).length
  tick(2001)
  t.equal(kept(), 11, 'the not-found answer is gone')
  tick(61_000 - 2001)
  t.equal(kept(), 11, 'changing orders are kept for stale-if-error...')
  tick(1)
  t.equal(kept(), 1, '...and no longer')
  t.equal(store.size, 1)
  tick(360_001 - 61_001)
  t.equal(kept(), 0, 'the terminal order too, after its 5 min and the stale window')
  t.equal(store.size, 0)
  t.equal(store.bytes, 0)
})

t.test('expired entries are freed without anyone asking for them', async (t) => {
  const { store, get, tick } = setup({ purgeEveryMs: 5 })
  for (let id = 1; id <= 10; id++) await get(id)
  tick(61_001)
  // the purge runs on a real timer, the entries expire on the fake clock: wait for the timer, generously
  await until(() => store.size === 0, { what: 'the purge' })
  t.equal(store.bytes, 0)
})

t.test('CACHE_MAX_BYTES: 16 MiB by default, at least 1 MiB', async (t) => {
  t.equal(loadConfig({}).resilience.cache.maxBytes, 16 * MiB)
  t.equal(loadConfig({ CACHE_MAX_BYTES: String(8 * MiB) }).resilience.cache.maxBytes, 8 * MiB)
  t.throws(() => loadConfig({ CACHE_MAX_BYTES: '1000' }), { name: 'ConfigError', message: /CACHE_MAX_BYTES: / })
})
