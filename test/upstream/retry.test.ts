import t from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import { createRetryBudget, isRetryable, withRetries } from '../../src/upstream/retry.js'
import { signParams } from '../../src/upstream/signing.js'
import { buildTestApp, json, startUpstream, TEST_CREDENTIALS } from '../helper.js'

const RETRIES_ON = { VENDOR_MAX_RETRIES: '2', VENDOR_RETRY_BASE_MS: '5' }

t.test('what is retried: failures before any answer, and gateway garbage', async (t) => {
  t.ok(isRetryable(new AppError('UPSTREAM_UNREACHABLE')))
  t.notOk(isRetryable(new AppError('UPSTREAM_UNREACHABLE', { upstreamStatus: 200 })), 'a reset mid-body came after an answer began')
  t.notOk(isRetryable(new AppError('UPSTREAM_UNREACHABLE', { upstreamStatus: 502 })), 'even a gateway\'s: only its whole answer counts as garbage')
  for (const status of [502, 503, 504]) t.ok(isRetryable(new AppError('UPSTREAM_BAD_RESPONSE', { upstreamStatus: status })))
  t.notOk(isRetryable(new AppError('UPSTREAM_BAD_RESPONSE', { upstreamStatus: 200 })))
  t.notOk(isRetryable(new AppError('UPSTREAM_TIMEOUT')), 'a slow vendor is not asked twice within one deadline')
  t.notOk(isRetryable(new AppError('UPSTREAM_ERROR', { vendorCode: 5000 })))
  t.notOk(isRetryable(new AppError('MACHINE_OFFLINE', { vendorCode: 30002 })))
  t.notOk(isRetryable(new Error('boom')))
})

t.test('the budget: retries stay under max(floor, ratio × requests) over the window', async (t) => {
  let now = 0
  const budget = createRetryBudget({ ratio: 0.1, floor: 2, windowMs: 10_000, now: () => now })
  t.ok(budget.tryAcquire())
  t.ok(budget.tryAcquire())
  t.notOk(budget.tryAcquire(), 'the floor is spent')
  for (let i = 0; i < 50; i++) budget.recordRequest()
  t.ok(budget.tryAcquire(), '50 requests allow 5 retries')
  t.ok(budget.tryAcquire())
  t.ok(budget.tryAcquire())
  t.notOk(budget.tryAcquire(), '5 taken')
  now += 10_001
  t.ok(budget.tryAcquire(), 'the window slid past them')
})

t.test('backoff: exponential with full jitter, never past the deadline', async (t) => {
  const retried: number[] = []
  const waits: number[] = []
  let now = 0
  // a fake clock: waiting out a backoff moves it
  const sleep = async (ms: number) => { waits.push(ms); now += ms }
  const budget = createRetryBudget({ ratio: 1, floor: 100, windowMs: 10_000, now: () => now })
  const failing = async () => { throw new AppError('UPSTREAM_UNREACHABLE') }
  await t.rejects(withRetries(failing, {
    maxRetries: 3,
    baseDelayMs: 10,
    budget,
    deadlineAt: 1000,
    now: () => now,
    random: () => 0.5,
    sleep,
    onRetry: (attempt) => { retried.push(attempt) }
  }), { code: 'UPSTREAM_UNREACHABLE' })
  t.same(retried, [1, 2, 3], 'three retries after the first attempt')
  t.same(waits, [5, 10, 20], 'half of 10, 20 and 40 ms')

  let attempts = 0
  await t.rejects(withRetries(async () => { attempts++; now += 100; throw new AppError('UPSTREAM_UNREACHABLE') }, {
    maxRetries: 5, baseDelayMs: 400, budget, deadlineAt: now + 500, now: () => now, random: () => 0.9, sleep
  }))
  t.equal(attempts, 2, 'the second backoff (720 ms) would end past the deadline, so no third attempt')
})

t.test('a backoff timer that fires past the deadline starts no attempt', async (t) => {
  let now = 0
  let attempts = 0
  const budget = createRetryBudget({ ratio: 1, floor: 100, windowMs: 10_000, now: () => now })
  const failure = new AppError('UPSTREAM_UNREACHABLE')
  await t.rejects(withRetries(async () => { attempts++; throw failure }, {
    maxRetries: 3,
    baseDelayMs: 1000,
    budget,
    deadlineAt: 1000,
    now: () => now,
    random: () => 0.9,
    // planned to end at 900; the timer fires 200 ms late
    sleep: async (ms) => { now += ms + 200 }
  }), failure)
  t.equal(attempts, 1)
})

t.test('a reset then a success: 200 after 2 vendor calls, each signed for its own timestamp', async (t) => {
  let calls = 0
  const upstream = await startUpstream(t, (req, res) => {
    calls++
    if (calls === 1) req.socket.destroy()
    else json(res, 200, { code: 0, data: { order_id: 54, status: 'NOTPAY' } })
  })
  const app = await buildTestApp(t, upstream.url, {}, {}, RETRIES_ON)
  const res = await app.inject({ url: '/orders/54?machine=16327129' })
  t.equal(res.statusCode, 200)
  t.equal(calls, 2, 'the vendor was called twice')
  t.equal(upstream.requests.length, 2)
  for (const request of upstream.requests) {
    const payload = JSON.parse(Buffer.from(JSON.parse(request.body).payload, 'base64').toString())
    t.equal(payload.sign, signParams({ machine_no: payload.machine_no, timestamp: payload.timestamp }, TEST_CREDENTIALS.signKey))
  }
})

t.test('gateway garbage is retried; business errors are not', async (t) => {
  let calls = 0
  let mode = 'gateway'
  const upstream = await startUpstream(t, (_req, res) => {
    calls++
    if (mode === 'gateway' && calls === 1) { res.writeHead(503, { 'content-type': 'text/html' }); res.end('<h1>503</h1>') } else if (mode === 'gateway') json(res, 200, { code: 0, data: { order_id: 54 } })
    else json(res, 200, { code: 30002, message: 'machine offline' })
  })
  const app = await buildTestApp(t, upstream.url, {}, {}, RETRIES_ON)
  t.equal((await app.inject({ url: '/orders/54?machine=16327129' })).statusCode, 200)
  t.equal(calls, 2)
  mode = 'business'
  calls = 0
  t.equal((await app.inject({ url: '/orders/54?machine=16327129' })).statusCode, 503)
  t.equal(calls, 1, 'one call: a vendor code is an answer')
})

t.test('with the budget exhausted a failure is not retried', async (t) => {
  let calls = 0
  const upstream = await startUpstream(t, (req) => { calls++; req.socket.destroy() })
  const app = await buildTestApp(t, upstream.url, {}, {}, { ...RETRIES_ON, VENDOR_RETRY_BUDGET_RATIO: '0', VENDOR_RETRY_BUDGET_FLOOR: '2' })
  t.equal((await app.inject({ url: '/orders/54?machine=16327129' })).statusCode, 502)
  t.equal(calls, 3, 'first request: 1 call + 2 retries from the floor')
  calls = 0
  t.equal((await app.inject({ url: '/orders/54?machine=16327129' })).statusCode, 502)
  t.equal(calls, 1, 'budget spent: no retry')
})
