import t, { type Test } from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import type { Outcome } from '../../src/orders/outcome.js'
import { cacheControl, cacheStatus, matchesIfNoneMatch, orderBody, representationOf } from '../../src/orders/representation.js'
import { ORDER_EXAMPLE, OrderSchema, type Order } from '../../src/orders/schema.js'
import { buildSimulator } from '../../src/simulator/app.js'
import { DEMO_CREDENTIALS } from '../../src/simulator/credentials.js'
import { MACHINE, ORDER } from '../../src/simulator/scenarios.js'
import { assertProblem, buildTestApp, json, startUpstream } from '../helper.js'

const CACHE_ON = { CACHE_ENABLED: 'true' }

/** The service with its cache on, against the simulator over real HTTP. */
async function withSimulator (t: Test, env: Record<string, string> = {}) {
  const simulator = buildSimulator()
  t.teardown(() => simulator.close())
  const url = await simulator.listen({ host: '127.0.0.1', port: 0 })
  const app = await buildTestApp(t, url, { vendor: { baseUrl: url, ...DEMO_CREDENTIALS } }, {}, { ...CACHE_ON, ...env })
  return { simulator, app }
}

t.test('100 concurrent requests for one order make exactly 1 vendor call', async (t) => {
  const { simulator, app } = await withSimulator(t)
  const answers = await Promise.all(Array.from({ length: 100 }, () => app.inject({ url: `/orders/${ORDER.documented}?machine=${MACHINE.documented}` })))
  t.ok(answers.every((res) => res.statusCode === 200))
  t.equal(simulator.simulator.stats.calls, 1)
  const statuses = new Set(answers.map((res) => String(res.headers['cache-status']).split(';')[1]?.trim()))
  t.same([...statuses].sort(), ['fwd=miss'], 'one stored it, the others collapsed onto it')
  t.ok(answers.some((res) => /collapsed/.test(String(res.headers['cache-status']))))
})

t.test('two machines for the same order id: 2 vendor calls, never a shared body', async (t) => {
  const { simulator, app } = await withSimulator(t)
  const [documented, other] = await Promise.all([
    app.inject({ url: `/orders/${ORDER.otherMachine}?machine=${MACHINE.documented}` }),
    app.inject({ url: `/orders/${ORDER.otherMachine}?machine=${MACHINE.other}` })
  ])
  t.equal(simulator.simulator.stats.calls, 2)
  t.equal(documented.statusCode, 404, 'order 6007 is not on the documented machine')
  t.equal(other.statusCode, 200, 'and is on its own')
})

t.test('ETag and If-None-Match: 304 with no body while it matches', async (t) => {
  const { app } = await withSimulator(t)
  const url = `/orders/${ORDER.documented}?machine=${MACHINE.documented}`
  const first = await app.inject({ url })
  const etag = first.headers.etag as string
  t.match(etag, /^"[A-Za-z0-9_-]{32}"$/, 'a strong ETag')
  const again = await app.inject({ url, headers: { 'if-none-match': etag } })
  t.equal(again.statusCode, 304)
  t.equal(again.body, '')
  t.equal(again.headers.etag, etag)
  t.equal((await app.inject({ url, headers: { 'if-none-match': `"other", W/${etag}` } })).statusCode, 304, 'listed among others, weakly compared')
  t.equal((await app.inject({ url, headers: { 'if-none-match': '"something-else"' } })).statusCode, 200)
  const otherOrder = await app.inject({ url: `/orders/1001?machine=${MACHINE.documented}` })
  t.not(otherOrder.headers.etag, etag)
})

t.test('the ETag is a function of the body: unchanged body, same tag across fetches', async (t) => {
  const { app } = await withSimulator(t, { CACHE_FRESH_MS: '0' })
  const url = `/orders/${ORDER.documented}?machine=${MACHINE.documented}`
  const a = await app.inject({ url })
  // CACHE_FRESH_MS=0: nothing is ever fresh (now - storedAt < 0 never holds), so no wait is needed for a second vendor call
  const b = await app.inject({ url })
  t.match(b.headers['cache-status'], /fwd=miss/, 'fetched again')
  t.equal(a.headers.etag, b.headers.etag)
})

t.test('Cache-Control: max-age is how long the answer stays fresh', async (t) => {
  const { app } = await withSimulator(t, { CACHE_FRESH_MS: '5000', CACHE_TERMINAL_MS: '300000' })
  const changing = await app.inject({ url: `/orders/${ORDER.documented}?machine=${MACHINE.documented}` })
  // whole seconds left, rounded down: a millisecond may have passed since the answer was stored
  t.match(changing.headers['cache-control'], /^private, max-age=[45]$/)
  t.match(changing.headers['cache-status'], /^vending-orders; fwd=miss; stored; ttl=[45]$/)
  const hit = await app.inject({ url: `/orders/${ORDER.documented}?machine=${MACHINE.documented}` })
  t.match(hit.headers['cache-status'], /^vending-orders; hit; ttl=[45]$/)
  const terminal = await app.inject({ url: `/orders/1001?machine=${MACHINE.documented}` })
  t.equal(terminal.json().terminal, true)
  t.match(terminal.headers['cache-control'], /^private, max-age=(299|300)$/)
})

t.test('with the cache off every request is a vendor call, max-age=0', async (t) => {
  const { simulator, app } = await withSimulator(t, { CACHE_ENABLED: 'false' })
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ url: `/orders/${ORDER.documented}?machine=${MACHINE.documented}` })
    t.equal(res.headers['cache-control'], 'private, max-age=0')
    t.match(res.headers['cache-status'], /fwd=bypass/)
  }
  t.equal(simulator.simulator.stats.calls, 3)
})

t.test('stale-if-error: a cached body with a stale Cache-Status; without one, the mapped error', async (t) => {
  let failing = false
  const upstream = await startUpstream(t, (req, res) => {
    if (failing) req.socket.destroy()
    else json(res, 200, { code: 0, data: { order_id: 54, status: 'SUCCESS', records: [{ id: 1, status: 'IS_DELIVERING' }] } })
  })
  const app = await buildTestApp(t, upstream.url, {}, {}, { ...CACHE_ON, CACHE_FRESH_MS: '0' })
  const fresh = await app.inject({ url: '/orders/54?machine=16327129' })
  t.equal(fresh.statusCode, 200)
  failing = true
  const stale = await app.inject({ url: '/orders/54?machine=16327129' })
  t.equal(stale.statusCode, 200)
  t.equal(stale.body, fresh.body)
  t.match(stale.headers['cache-status'], /fwd=stale; detail=stale-if-error/)
  t.equal(stale.headers['cache-control'], 'private, max-age=0')
  const none = await app.inject({ url: '/orders/55?machine=16327129' })
  t.equal(none.statusCode, 502)
  t.equal(none.json().code, 'UPSTREAM_UNREACHABLE')
})

t.test('a cached problem says how fresh it is, like an order', async (t) => {
  const upstream = await startUpstream(t, (req, res) => {
    if (req.url?.includes('/40')) json(res, 200, { code: 40005, message: 'order expired' })
    else json(res, 200, { code: 80002, message: 'no record' })
  })
  const app = await buildTestApp(t, upstream.url, {}, {}, { ...CACHE_ON, CACHE_TERMINAL_MS: '300000', CACHE_NOT_FOUND_MS: '5000' })
  const [first, collapsed] = await Promise.all([0, 1].map(() => app.inject({ url: '/orders/40?machine=16327129' })))
  assertProblem(t, first!, 410, 'ORDER_EXPIRED')
  t.match(first!.headers['cache-status'], /^vending-orders; fwd=miss; stored; ttl=(299|300)$/)
  t.match(first!.headers['cache-control'], /^private, max-age=(299|300)$/)
  assertProblem(t, collapsed!, 410, 'ORDER_EXPIRED')
  t.match(collapsed!.headers['cache-status'], /^vending-orders; fwd=miss; collapsed; ttl=(299|300)$/)
  const second = await app.inject({ url: '/orders/40?machine=16327129' })
  assertProblem(t, second, 410, 'ORDER_EXPIRED')
  t.match(second.headers['cache-status'], /^vending-orders; hit; ttl=(299|300)$/)
  t.match(second.headers['cache-control'], /^private, max-age=(299|300)$/)
  t.equal(upstream.requests.length, 1, 'one vendor call for all three')

  await app.inject({ url: '/orders/41?machine=16327129' })
  const notFound = await app.inject({ url: '/orders/41?machine=16327129' })
  assertProblem(t, notFound, 404, 'ORDER_NOT_FOUND')
  t.match(notFound.headers['cache-status'], /^vending-orders; hit; ttl=[45]$/)
  t.match(notFound.headers['cache-control'], /^private, max-age=[45]$/)
})

t.test('with the cache off, a problem carries no cache headers', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 40005, message: 'order expired' }))
  const app = await buildTestApp(t, upstream.url)
  const res = await app.inject({ url: '/orders/40?machine=16327129' })
  assertProblem(t, res, 410, 'ORDER_EXPIRED')
  t.notOk(res.headers['cache-status'])
  t.notOk(res.headers['cache-control'])
})

t.test('If-None-Match parsing', async (t) => {
  t.ok(matchesIfNoneMatch('"a"', '"a"'))
  t.ok(matchesIfNoneMatch(' "x" , W/"a" ', '"a"'))
  t.ok(matchesIfNoneMatch('*', '"a"'))
  t.notOk(matchesIfNoneMatch(undefined, '"a"'))
  t.notOk(matchesIfNoneMatch('"ab"', '"a"'))
  t.notOk(matchesIfNoneMatch('a', '"a"'))
})

const EXAMPLE: Order = OrderSchema.parse(ORDER_EXAMPLE)

t.test('an order is written exactly as zod would write it, once per order object', async (t) => {
  const order = structuredClone(EXAMPLE)
  const first = representationOf(order)
  t.equal(first.body, JSON.stringify(OrderSchema.encode(order)))
  t.equal(representationOf(order), first, 'asked again, the same body and ETag: nothing serialized or hashed twice')
  t.equal(orderBody(order), first.body, 'the route\'s 200 serializer sends that body')
  const unpaid: Order = { ...EXAMPLE, status: 'NOTPAY', items: [{ ...EXAMPLE.items[0]!, status: null }] }
  t.equal(orderBody(unpaid), JSON.stringify(OrderSchema.encode(unpaid)))
})

t.test('only the documented fields leave the service, and none of them may be missing', async (t) => {
  t.notMatch(orderBody({ ...EXAMPLE, appSecret: 'leaked' } as Order), 'leaked')
  const { tradeId: _missing, ...incomplete } = EXAMPLE
  t.throws(() => orderBody(incomplete as Order))
})

t.test('the ETag is strong and a function of the body', async (t) => {
  const { etag } = representationOf(structuredClone(EXAMPLE))
  t.match(etag, /^"[A-Za-z0-9_-]{32}"$/)
  t.equal(representationOf(structuredClone(EXAMPLE)).etag, etag, 'another object with the same order: the same tag')
  t.not(representationOf({ ...EXAMPLE, amount: '3.01' }).etag, etag)
})

t.test('Cache-Control and Cache-Status, from the outcome\'s times and how the request got it', async (t) => {
  const order: Outcome = { kind: 'order', order: EXAMPLE, storedAt: 10_000, freshMs: 5000 }
  const kept: Outcome = { kind: 'error', error: new AppError('ORDER_NOT_FOUND'), storedAt: 10_000, freshMs: 2000 }
  t.equal(cacheControl(order, 10_001), 'private, max-age=4', 'whole seconds left, rounded down')
  t.equal(cacheControl(order, 15_000), 'private, max-age=0')
  t.equal(cacheControl(order, 76_000), 'private, max-age=0', 'never negative')
  t.equal(cacheControl(kept, 10_000), 'private, max-age=2', 'a kept problem says it too')
  t.equal(cacheStatus({ outcome: order, result: 'hit' }, 10_000), 'vending-orders; hit; ttl=5')
  t.equal(cacheStatus({ outcome: order, result: 'miss' }, 10_000), 'vending-orders; fwd=miss; stored; ttl=5')
  t.equal(cacheStatus({ outcome: order, result: 'coalesced' }, 10_000), 'vending-orders; fwd=miss; collapsed; ttl=5')
  t.equal(cacheStatus({ outcome: order, result: 'stale' }, 76_000), 'vending-orders; fwd=stale; detail=stale-if-error; ttl=-61', 'ttl goes negative once stale')
  t.equal(cacheStatus({ outcome: { ...order, freshMs: 0 }, result: 'bypass' }, 10_000), 'vending-orders; fwd=bypass; ttl=0')
  t.equal(cacheStatus({ outcome: kept, result: 'hit' }, 10_500), 'vending-orders; hit; ttl=1')
})
