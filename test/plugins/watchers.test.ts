import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { createMetrics, type Metrics } from '../../src/observability/metrics.js'
import { answerOrder, buildTestApp, fakeClock, startUpstream, until, type FakeClock } from '../helper.js'

// app.watchers over app.orders as buildApp wires them, against a vendor on a real socket, with
// VENDOR_MAX_CALLS_PER_SECOND set: the pollers, the cache and the budget on one fake clock, so a
// slow machine changes how long the test takes, never how many calls a second of its time sees.

const MACHINE = '16327129'

/** The app on the fake clock with a budget of `perSecond`; `calls` holds the fake time of each vendor call and the order it asked for. */
async function budgetedApp (t: Test, perSecond: number) {
  const clock = fakeClock()
  const calls: Array<{ id: number, at: number }> = []
  const upstream = await startUpstream(t, (req, res) => {
    calls.push({ id: Number(/orders\/(\d+)/.exec(req.url ?? '')?.[1]), at: clock.now() })
    answerOrder(req, res, { status: 'NOTPAY' })
  })
  const metrics = createMetrics({ defaultMetrics: false })
  const app = await buildTestApp(t, upstream.url, {}, { metrics, clock }, {
    CACHE_ENABLED: 'true', CACHE_FRESH_MS: '1000', VENDOR_MAX_CALLS_PER_SECOND: String(perSecond)
  })
  return { clock, calls, app, metrics, run: (ms: number) => run(clock, metrics, ms) }
}

const value = async (metrics: Metrics, name: 'vendorInFlight' | 'vendorCallsDeferred', labels: Record<string, string> = {}) =>
  (await metrics[name].get()).values.find((sample) => Object.entries(labels).every(([key, label]) => (sample.labels as Record<string, unknown>)[key] === label))?.value ?? 0

const flush = () => new Promise((resolve) => setImmediate(resolve))

/** Moves the fake clock `ms` in 50 ms steps; after each, waits until every vendor call it started was answered and handled. */
async function run (clock: FakeClock, metrics: Metrics, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 50) {
    await clock.advance(Math.min(50, left))
    await flush()
    await until(async () => await value(metrics, 'vendorInFlight') === 0, { what: 'the vendor calls of this step answered' })
    await flush()
  }
}

function watch (app: FastifyInstance, ids: number[]): void {
  for (const id of ids) app.watchers.watch(id, MACHINE, () => {})
}

t.test('50 watched orders on a budget of 10 a second: at most the budget, every order polled in turn', async (t) => {
  const { calls, app, run } = await budgetedApp(t, 10)
  const ids = Array.from({ length: 50 }, (_, i) => 5001 + i)
  watch(app, ids)
  await run(12_000)
  const perSecond = Array.from({ length: 12 }, (_, s) => calls.filter(({ at }) => at >= s * 1000 && at < (s + 1) * 1000).length)
  // the bucket: 10 a second, 5 at once, so at most 5 + 10 × T in T seconds
  t.ok(perSecond.every((n) => n <= 15), `at most 15 calls in any second of the clock (10 a second and the burst): ${perSecond.join(' ')}`)
  t.ok(calls.length <= 5 + 10 * 12, `${calls.length} calls in 12 s: at most 5 + 10 × 12`)
  const polls = ids.map((id) => calls.filter((call) => call.id === id).length)
  t.ok(Math.min(...polls) >= 2, `every order polled, each about every 50 / 10 = 5 s: ${polls.join(' ')}`)
  t.ok(Math.max(...polls) - Math.min(...polls) <= 1, 'none more than once more than another')
})

t.test('a request while the polls use up the budget is called at once, ahead of them', async (t) => {
  const { clock, calls, app, metrics, run } = await budgetedApp(t, 10)
  watch(app, Array.from({ length: 50 }, (_, i) => 5001 + i))
  await run(3000)
  t.ok(await value(metrics, 'vendorCallsDeferred', { priority: 'background' }) > 0, 'the polls are being put off: the budget is spent')
  // the clock stands still: had the request waited for the budget, it would never be answered
  const at = clock.now()
  const res = await app.inject({ url: `/orders/9999?machine=${MACHINE}` })
  t.equal(res.statusCode, 200)
  t.match(res.headers['cache-status'], /fwd=miss; stored/, 'asked the vendor')
  t.match(calls.at(-1), { id: 9999, at }, 'at once, from the calls the polls must leave')
})

t.test('with no budget (0), the watchers poll every interval', async (t) => {
  const { calls, app, run } = await budgetedApp(t, 0)
  const ids = Array.from({ length: 50 }, (_, i) => 5001 + i)
  watch(app, ids)
  await run(2500)
  t.equal(calls.length, 150, 'each of the 50 at once, then every second')
})
