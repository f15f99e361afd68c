import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { AppError } from '../../src/errors.js'
import { createOrderCache } from '../../src/orders/cache.js'
import type { Order } from '../../src/orders/schema.js'
import { buildTestApp, json, startUpstream } from '../helper.js'

const MiB = 1024 * 1024
const OPTIONS = { enabled: true, maxEntries: 100, maxBytes: 64 * MiB, freshMs: 1000, terminalMs: 300_000, notFoundMs: 2000, staleMs: 60_000 }

function order (id: number, terminal = false, lines = 0): Order {
  const items = Array.from({ length: lines }, (_, i) => ({ id: id * 10_000 + i, productId: 121, quantity: 1, price: '1.00', status: 'IS_SUCCESS' as const, notifySent: true }))
  return { id, tradeId: null, date: null, amount: '1.00', status: terminal ? 'CLOSED' : 'NOTPAY', notifySendCount: 0, pickupCodeId: null, terminal, items }
}

/** A cache on a hand-driven clock, with a loader that counts its calls and answers what it is told. */
function setup (options: Partial<typeof OPTIONS> & { purgeEveryMs?: number } = {}) {
  let now = 1_000_000
  const calls: string[] = []
  let next: (id: number) => Promise<Order> = async (id) => order(id)
  const cache = createOrderCache({ ...OPTIONS, ...options, now: () => now })
  const get = (id: number, machine = '16327129') => cache.get(id, machine, async (i, m) => { calls.push(`${i}:${m}`); return await next(i) })
  return { cache, get, calls, tick: (ms: number) => { now += ms }, answer: (f: typeof next) => { next = f } }
}

t.test('a changing order is fresh for CACHE_FRESH_MS, then fetched again', async (t) => {
  const { get, calls, tick } = setup()
  t.equal((await get(1)).outcome, 'miss')
  tick(999)
  t.equal((await get(1)).outcome, 'hit')
  tick(2)
  t.equal((await get(1)).outcome, 'miss')
  t.equal(calls.length, 2)
})

t.test('a terminal order is fresh for CACHE_TERMINAL_MS', async (t) => {
  const { get, calls, tick, answer } = setup()
  answer(async (id) => order(id, true))
  await get(1)
  tick(299_999)
  t.equal((await get(1)).outcome, 'hit')
  tick(2)
  t.equal((await get(1)).outcome, 'miss')
  t.equal(calls.length, 2)
})

t.test('not-found answers are cached for CACHE_NOT_FOUND_MS, expired like terminal, other errors not at all', async (t) => {
  const { get, calls, tick, answer } = setup()
  answer(async () => { throw new AppError('ORDER_NOT_FOUND', { vendorCode: 80002 }) })
  await t.rejects(get(1), { code: 'ORDER_NOT_FOUND' })
  tick(1999)
  await t.rejects(get(1), { code: 'ORDER_NOT_FOUND' })
  t.equal(calls.length, 1, 'the second 404 came from the cache')
  tick(2)
  await t.rejects(get(1), { code: 'ORDER_NOT_FOUND' })
  t.equal(calls.length, 2)

  answer(async () => { throw new AppError('ORDER_EXPIRED', { vendorCode: 40005 }) })
  await t.rejects(get(2), { code: 'ORDER_EXPIRED' })
  tick(299_000)
  await t.rejects(get(2), { code: 'ORDER_EXPIRED' })
  t.equal(calls.length, 3)

  answer(async () => { throw new AppError('MACHINE_OFFLINE', { vendorCode: 30002 }) })
  await t.rejects(get(3), { code: 'MACHINE_OFFLINE' })
  await t.rejects(get(3), { code: 'MACHINE_OFFLINE' })
  t.equal(calls.length, 5, 'an offline machine is asked again every time')
})

t.test('concurrent requests share one fetch and its error', async (t) => {
  const { get, calls, answer } = setup()
  let release!: () => void
  answer(() => new Promise((resolve, reject) => { release = () => reject(new AppError('UPSTREAM_TIMEOUT')) }))
  const pending = Array.from({ length: 50 }, () => get(7))
  await new Promise((resolve) => setImmediate(resolve))
  release()
  const results = await Promise.allSettled(pending)
  t.equal(calls.length, 1)
  t.ok(results.every((r) => r.status === 'rejected' && (r.reason as AppError).code === 'UPSTREAM_TIMEOUT'))
})

t.test('keys are (order, machine): another machine never sees this machine\'s answer', async (t) => {
  const { get, calls } = setup()
  await get(54, '16327129')
  const other = await get(54, '16327128')
  t.equal(other.outcome, 'miss')
  t.same(calls, ['54:16327129', '54:16327128'])
})

t.test('stale-if-error: for CACHE_STALE_MS after the answer stopped being fresh, terminal or not', async (t) => {
  const { get, tick, answer } = setup()
  await get(1)
  await get(2)
  answer(async (id) => order(id, true))
  await get(3)
  answer(async () => { throw new AppError('UPSTREAM_UNREACHABLE') })
  tick(30_000)
  const stale = await get(1)
  t.equal(stale.outcome, 'stale')
  t.equal(stale.answer.order.id, 1)
  tick(31_000)
  t.equal((await get(2)).outcome, 'stale', 'fresh for 1 s, then stale-if-error for 60 s')
  tick(1)
  await t.rejects(get(2), { code: 'UPSTREAM_UNREACHABLE' }, 'past the stale limit the failure shows')
  tick(300_000 - 61_001)
  t.equal((await get(3)).outcome, 'stale', 'a terminal order: stale-if-error once its 5 min are over')
  tick(60_000)
  t.equal((await get(3)).outcome, 'stale')
  tick(1)
  await t.rejects(get(3), { code: 'UPSTREAM_UNREACHABLE' }, 'a terminal order is not kept for ever either')

  answer(async (id) => order(id, true))
  await get(4)
  tick(300_001)
  answer(async () => { throw new AppError('ORDER_NOT_FOUND', { vendorCode: 80002 }) })
  await t.rejects(get(4), { code: 'ORDER_NOT_FOUND' }, 'a vendor answer is not a failure: no stale body')
})

t.test('the entry limit is respected, least recently used out first', async (t) => {
  const { cache, get, calls } = setup({ maxEntries: 3 })
  for (const id of [1, 2, 3, 1, 4]) await get(id)
  t.equal(cache.size, 3)
  calls.length = 0
  await get(1)
  await get(2)
  t.same(calls, ['2:16327129'], '1 was used recently and kept; 2 was evicted')
})

t.test('an answer still in flight when its entry is evicted reaches its callers', async (t) => {
  const { get, answer } = setup({ maxEntries: 2 })
  const releases: Array<() => void> = []
  answer((id) => new Promise((resolve) => releases.push(() => resolve(order(id)))))
  const pending = [get(1), get(2), get(3), get(4)]
  await new Promise((resolve) => setImmediate(resolve))
  for (const release of releases) release()
  const served = await Promise.all(pending)
  t.same(served.map((s) => s.answer.order.id), [1, 2, 3, 4])
})

t.test('the byte limit holds while large orders come and go; a small order polled between them stays a hit', async (t) => {
  const { cache, get, calls, answer } = setup({ maxBytes: 1 * MiB })
  answer(async (id) => order(id, false, id === 1 ? 0 : 400))
  t.equal((await get(1)).outcome, 'miss')
  for (let id = 2; id < 102; id++) {
    const large = await get(id)
    t.equal(large.answer.order.items.length, 400)
    t.ok(cache.bytes <= 1 * MiB, `${cache.bytes} bytes counted after order ${id}`)
    t.equal((await get(1)).outcome, 'hit', `order 1 still cached after order ${id}`)
  }
  t.ok(cache.size < 20, `${cache.size} entries kept: the bytes bound them, not CACHE_MAX_ENTRIES`)
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
  const { cache, get, calls, answer } = setup({ maxBytes: 1 * MiB })
  await get(1)
  const before = cache.bytes
  // an eighth of 1 MiB at most; this body alone is about 190 KB
  answer(async (id) => order(id, false, 2000))
  const [huge, collapsed] = await Promise.all([get(2), get(2)])
  t.equal(huge.answer.order.items.length, 2000)
  t.equal(collapsed.outcome, 'coalesced', 'requests waiting on it get it too')
  t.equal(collapsed.answer.body, huge.answer.body)
  t.equal(cache.bytes, before, 'not stored')
  t.equal((await get(1)).outcome, 'hit', 'and nothing was evicted for it')
  t.equal((await get(2)).outcome, 'miss', 'asked for again, it is fetched again')
  t.same(calls, ['1:16327129', '2:16327129', '2:16327129'])
})

t.test('expired entries are freed: orders CACHE_STALE_MS after their freshness, errors at once', async (t) => {
  const { cache, get, tick, answer } = setup()
  for (let id = 1; id <= 10; id++) await get(id)
  answer(async (id) => order(id, true))
  await get(11)
  answer(async () => { throw new AppError('ORDER_NOT_FOUND', { vendorCode: 80002 }) })
  await t.rejects(get(12))
  t.equal(cache.size, 12)
  tick(2001)
  cache.purgeExpired()
  t.equal(cache.size, 11, 'the not-found answer is gone')
  tick(61_000 - 2001)
  cache.purgeExpired()
  t.equal(cache.size, 11, 'changing orders are kept for stale-if-error...')
  tick(1)
  cache.purgeExpired()
  t.equal(cache.size, 1, '...and no longer')
  tick(360_001 - 61_001)
  cache.purgeExpired()
  t.equal(cache.size, 0, 'the terminal order too, after its 5 min and the stale window')
  t.equal(cache.bytes, 0)
})

t.test('expired entries are freed without anyone asking for them', async (t) => {
  const { cache, get, tick } = setup({ purgeEveryMs: 5 })
  for (let id = 1; id <= 10; id++) await get(id)
  tick(61_001)
  // the purge runs on a real timer, the entries expire on the fake clock: wait for the timer, generously
  for (let i = 0; i < 1000 && cache.size > 0; i++) await sleep(5)
  t.equal(cache.size, 0)
  t.equal(cache.bytes, 0)
})

t.test('CACHE_MAX_BYTES: 64 MiB by default, at least 1 MiB', async (t) => {
  t.equal(loadConfig({}).resilience.cache.maxBytes, 64 * MiB)
  t.equal(loadConfig({ CACHE_MAX_BYTES: String(8 * MiB) }).resilience.cache.maxBytes, 8 * MiB)
  t.throws(() => loadConfig({ CACHE_MAX_BYTES: '1000' }), { name: 'ConfigError', message: /CACHE_MAX_BYTES: / })
})
