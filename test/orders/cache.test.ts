import t from 'tap'
import { AppError } from '../../src/errors.js'
import { createOrderCache } from '../../src/orders/cache.js'
import type { Order } from '../../src/orders/schema.js'

const OPTIONS = { enabled: true, maxEntries: 100, freshMs: 1000, terminalMs: 300_000, notFoundMs: 2000, staleMs: 60_000 }

function order (id: number, terminal = false): Order {
  return { id, tradeId: null, date: null, amount: '1.00', status: terminal ? 'CLOSED' : 'NOTPAY', notifySendCount: 0, pickupCodeId: null, terminal, items: [] }
}

/** A cache on a hand-driven clock, with a loader that counts its calls and answers what it is told. */
function setup (options: Partial<typeof OPTIONS> = {}) {
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

t.test('stale-if-error: within CACHE_STALE_MS, or any age for a terminal order', async (t) => {
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
  tick(30_001)
  await t.rejects(get(2), { code: 'UPSTREAM_UNREACHABLE' }, 'past the stale limit the failure shows')
  tick(600_000)
  t.equal((await get(3)).outcome, 'stale', 'a terminal order cannot change: any age will do')

  answer(async () => { throw new AppError('ORDER_NOT_FOUND', { vendorCode: 80002 }) })
  await t.rejects(get(3), { code: 'ORDER_NOT_FOUND' }, 'a vendor answer is not a failure: no stale body')
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
