import { mock } from 'node:test'
import t, { type Test } from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import { createBreaker, type BreakerState } from '../../src/upstream/breaker.js'
import { buildTestApp, json, startUpstream } from '../helper.js'

const BREAKER_ON = { BREAKER_MIN_CALLS: '4', BREAKER_THRESHOLD_PERCENT: '50', BREAKER_COOLDOWN_MS: '10000', BREAKER_WINDOW_MS: '10000' }

t.test('opens after the threshold and fails fast without the vendor; business codes never open it', async (t) => {
  const upstream = await startUpstream(t, (req) => { req.socket.destroy() })
  const app = await buildTestApp(t, upstream.url, {}, {}, BREAKER_ON)
  const get = () => app.inject({ url: '/orders/54?machine=16327129' })

  for (let i = 0; i < 4; i++) t.equal((await get()).statusCode, 502, `failure ${i + 1} reaches the vendor`)
  t.equal(upstream.requests.length, 4)
  const open = await get()
  t.equal(open.statusCode, 503)
  t.match(open.json(), { code: 'UNAVAILABLE', status: 503 })
  const retryAfter = Number(open.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 10, `Retry-After ${retryAfter}: the cool-down left`)
  t.equal(upstream.requests.length, 4, 'the vendor was not touched')

  const business = await startUpstream(t, (_req, res) => json(res, 200, { code: 80002, message: 'no record' }))
  const app2 = await buildTestApp(t, business.url, {}, {}, BREAKER_ON)
  for (let i = 0; i < 10; i++) t.equal((await app2.inject({ url: '/orders/54?machine=16327129' })).statusCode, 404)
  t.equal(business.requests.length, 10, 'vendor answers are not failures')
})

/** A breaker (min 4 calls, 50 %, cool-down 10 s) on fake timers: opossum's cool-down is a setTimeout. */
function fakeTimedBreaker (t: Test) {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 })
  const breaker = createBreaker({ thresholdPercent: 50, minCalls: 4, windowMs: 10_000, cooldownMs: 10_000, now: () => Date.now() })
  t.teardown(() => { breaker.shutdown(); mock.timers.reset() })
  const states: BreakerState[] = []
  breaker.onStateChange((state) => states.push(state))
  let vendorCalls = 0
  const call = (outcome: 'ok' | 'fail') => breaker.run(async () => {
    vendorCalls++
    if (outcome === 'fail') throw new AppError('UPSTREAM_UNREACHABLE')
    return 'ok'
  })
  return { call, states, vendorCalls: () => vendorCalls }
}

t.test('after the cool-down one probe goes through, and its success closes the breaker', async (t) => {
  const { call, states, vendorCalls } = fakeTimedBreaker(t)
  for (let i = 0; i < 4; i++) await t.rejects(call('fail'), { code: 'UPSTREAM_UNREACHABLE' })
  t.same(states, ['open'])
  await t.rejects(call('ok'), { code: 'UNAVAILABLE', retryAfter: 10 })
  mock.timers.tick(6_500)
  await t.rejects(call('ok'), { code: 'UNAVAILABLE', retryAfter: 4 }, 'Retry-After counts down with the clock')
  mock.timers.tick(3_499)
  await t.rejects(call('ok'), { code: 'UNAVAILABLE' }, 'still open a millisecond before the cool-down ends')
  t.equal(vendorCalls(), 4, 'none of those reached the vendor')
  mock.timers.tick(1)
  t.same(states, ['open', 'halfOpen'])
  t.equal(await call('ok'), 'ok', 'the probe')
  t.same(states, ['open', 'halfOpen', 'closed'])
  t.equal(await call('ok'), 'ok', 'closed again')
  t.equal(vendorCalls(), 6)
})

t.test('a failed probe opens it again for another cool-down', async (t) => {
  const { call, states, vendorCalls } = fakeTimedBreaker(t)
  for (let i = 0; i < 4; i++) await t.rejects(call('fail'))
  mock.timers.tick(10_000)
  await t.rejects(call('fail'), { code: 'UPSTREAM_UNREACHABLE' }, 'the probe reached the vendor and failed')
  t.same(states, ['open', 'halfOpen', 'open'])
  await t.rejects(call('ok'), { code: 'UNAVAILABLE', retryAfter: 10 }, 'so it is open again, for a full cool-down')
  t.equal(vendorCalls(), 5)
  mock.timers.tick(10_000)
  t.equal(await call('ok'), 'ok')
  t.same(states, ['open', 'halfOpen', 'open', 'halfOpen', 'closed'])
})
