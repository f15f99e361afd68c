import t from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import { createReadThrough, REFRESH_INTERVAL_MS } from '../../src/orders/read-through.js'
import { runInThisProcess } from '../../src/shared-state/memory/coalescing.js'
import { createMemoryOutcomeStore } from '../../src/shared-state/memory/outcome-store.js'
import { CallDeferred, type CallTicket } from '../../src/upstream/call-budget.js'
import { QUIET } from '../fixtures/logger.js'
import { OPTIONS, order, orderOf, setup } from './fixtures/read-through.js'

t.test('a changing order is fresh for CACHE_FRESH_MS, then fetched again', async (t) => {
  const { get, calls, tick } = setup()
  t.equal((await get(1)).result, 'miss')
  tick(999)
  t.equal((await get(1)).result, 'hit')
  tick(2)
  t.equal((await get(1)).result, 'miss')
  t.equal(calls.length, 2)
})

t.test('a terminal order is fresh for CACHE_TERMINAL_MS', async (t) => {
  const { get, calls, tick, answer } = setup()
  answer(async (id) => order(id, true))
  await get(1)
  tick(299_999)
  t.equal((await get(1)).result, 'hit')
  tick(2)
  t.equal((await get(1)).result, 'miss')
  t.equal(calls.length, 2)
})

t.test('not-found answers are kept for CACHE_NOT_FOUND_MS, expired like terminal, other errors not at all', async (t) => {
  const { get, calls, tick, answer } = setup()
  const kept = (code: string, result: string) => ({ outcome: { kind: 'error', error: { code } }, result })
  answer(async () => { throw new AppError('ORDER_NOT_FOUND', { vendorCode: 80002 }) })
  t.match(await get(1), kept('ORDER_NOT_FOUND', 'miss'))
  tick(1999)
  t.match(await get(1), kept('ORDER_NOT_FOUND', 'hit'))
  t.equal(calls.length, 1, 'the second 404 came from the cache')
  tick(2)
  t.match(await get(1), kept('ORDER_NOT_FOUND', 'miss'))
  t.equal(calls.length, 2)

  answer(async () => { throw new AppError('ORDER_EXPIRED', { vendorCode: 40005 }) })
  t.match(await get(2), kept('ORDER_EXPIRED', 'miss'))
  tick(299_000)
  t.match(await get(2), kept('ORDER_EXPIRED', 'hit'))
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

t.test('concurrent requests share one fetch and its outcome: one miss, the others collapsed onto it', async (t) => {
  const { get, calls } = setup()
  const served = await Promise.all(Array.from({ length: 5 }, () => get(7)))
  t.equal(calls.length, 1)
  t.same(served.map((s) => s.result), ['miss', 'coalesced', 'coalesced', 'coalesced', 'coalesced'])
  t.ok(served.every((s) => s.outcome === served[0]!.outcome), 'the very same outcome')
})

t.test('keys are (order, machine): another machine never sees this machine\'s answer', async (t) => {
  const { get, calls } = setup()
  await get(54, '16327129')
  const other = await get(54, '16327128')
  t.equal(other.result, 'miss')
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
  t.equal(stale.result, 'stale')
  t.equal(orderOf(stale).id, 1)
  tick(31_000)
  t.equal((await get(2)).result, 'stale', 'fresh for 1 s, then stale-if-error for 60 s')
  tick(1)
  await t.rejects(get(2), { code: 'UPSTREAM_UNREACHABLE' }, 'past the stale limit the failure shows')
  tick(300_000 - 61_001)
  t.equal((await get(3)).result, 'stale', 'a terminal order: stale-if-error once its 5 min are over')
  tick(60_000)
  t.equal((await get(3)).result, 'stale')
  tick(1)
  await t.rejects(get(3), { code: 'UPSTREAM_UNREACHABLE' }, 'a terminal order is not kept for ever either')

  answer(async (id) => order(id, true))
  await get(4)
  tick(300_001)
  answer(async () => { throw new AppError('ORDER_NOT_FOUND', { vendorCode: 80002 }) })
  t.match(await get(4), { outcome: { kind: 'error', error: { code: 'ORDER_NOT_FOUND' } }, result: 'miss' }, 'a vendor answer is not a failure: no stale body')
})

t.test('stale-if-error follows the error catalogue: only failures of the vendor or of this service', async (t) => {
  for (const [code, stale] of [['UPSTREAM_TIMEOUT', true], ['UPSTREAM_BAD_RESPONSE', true], ['UNAVAILABLE', true], ['UPSTREAM_BUDGET_SPENT', true], ['MACHINE_OFFLINE', false], ['UPSTREAM_REJECTED', false], ['INTERNAL', false]] as const) {
    const { get, tick, answer } = setup()
    await get(1)
    tick(1001)
    answer(async () => { throw new AppError(code) })
    if (stale) t.equal((await get(1)).result, 'stale', code)
    else await t.rejects(get(1), { code }, code)
  }
})

t.test('an answer still in flight when its entry is evicted reaches its callers', async (t) => {
  const { get, answer } = setup({ maxEntries: 2 })
  const releases: Array<() => void> = []
  answer((id) => new Promise((resolve) => releases.push(() => resolve(order(id)))))
  const pending = [get(1), get(2), get(3), get(4)]
  await new Promise((resolve) => setImmediate(resolve))
  for (const release of releases) release()
  const served = await Promise.all(pending)
  t.same(served.map((s) => orderOf(s).id), [1, 2, 3, 4])
})

t.test('the lookup\'s priority and admission reach the vendor call; a request that joined a poll the budget put off asks for itself', async (t) => {
  let now = 1_000_000
  const tickets: Array<CallTicket | undefined> = []
  const releases: Array<(error?: Error) => void> = []
  const store = createMemoryOutcomeStore({ ...OPTIONS, now: () => now })
  const get = createReadThrough({
    store,
    rules: OPTIONS,
    now: () => now,
    coalescing: runInThisProcess,
    load: (id, _machine, _log, ticket) => new Promise((resolve, reject) => {
      tickets.push(ticket)
      releases.push((error) => { if (error === undefined) resolve(order(id)); else reject(error) })
    })
  })
  const admitted = () => {}
  const poll = get(1, '16327129', QUIET, { priority: 'background', onAdmitted: admitted })
  const request = get(1, '16327129', QUIET)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(tickets, [{ priority: 'background', onAdmitted: admitted }], 'one call, the poll\'s, with its priority; the request joined it')
  releases[0]!(new CallDeferred(100))
  await t.rejects(poll, CallDeferred, 'the poll is put off: its watcher asks again in its turn')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(tickets[1], { priority: undefined, onAdmitted: undefined }, 'the request asks for itself, as a request')
  releases[1]!()
  t.equal((await request).result, 'miss', 'and is served')
  now += 1
  t.equal((await get(1, '16327129', QUIET, { priority: 'background' })).result, 'hit', 'a fresh order needs no call, whatever the priority')
})

t.test('a forced refresh asks the vendor though the order is fresh, but not within REFRESH_INTERVAL_MS of the kept fetch: it is put off until then', async (t) => {
  const { get, refresh, calls, tick } = setup()
  await get(1)
  tick(100)
  const early = await refresh(1).then(() => undefined, (error: unknown) => error)
  t.ok(early instanceof CallDeferred, 'fetched 100 ms ago, here or by another replica through the shared store')
  t.equal((early as CallDeferred).retryInMs, REFRESH_INTERVAL_MS - 100, 'put off until the interval is over')
  t.equal(calls.length, 1, 'no vendor call')
  tick(REFRESH_INTERVAL_MS - 100)
  t.equal((await refresh(1)).result, 'miss', 'then it asks, though the kept order is still fresh')
  t.equal(calls.length, 2)
  t.equal((await get(1)).result, 'hit', 'and what it got is kept')
  t.equal((await refresh(2)).result, 'miss', 'nothing kept: it asks at once')
})
