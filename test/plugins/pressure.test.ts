import t from 'tap'
import { createPressureMonitor } from '../../src/plugins/pressure.js'
import { answerOrder, buildTestApp, json, startUpstream, until } from '../helper.js'

t.test('under memory pressure orders get a 503 problem with Retry-After; health still answers', async (t) => {
  const upstream = await startUpstream(t, (req, res) => answerOrder(req, res))
  // a 1-byte RSS limit: every sample is over it
  const app = await buildTestApp(t, upstream.url, {}, {}, { MAX_RSS_BYTES: '1' })
  await app.ready()
  // the first sample (on the plugin's real 500 ms timer) finds RSS over the limit: wait for that, not for a guessed time
  await until(() => app.isUnderPressure(), { what: 'shedding load after a sample' })
  const res = await app.inject({ url: '/orders/54?machine=16327129' })
  t.equal(res.statusCode, 503)
  t.match(res.headers['content-type'], /problem\+json/)
  t.match(res.json(), { code: 'UNAVAILABLE', status: 503 })
  t.equal(res.headers['retry-after'], '5')
  t.equal(upstream.requests.length, 0, 'the vendor was spared')
  t.equal((await app.inject({ url: '/docs/json' })).statusCode, 503, 'the docs are shed too')
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200)
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 503, 'readiness says so, so balancers send less')
  t.same(ready.json(), { status: 'overloaded' })
})

t.test('without pressure requests pass', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: { order_id: 54 } }))
  // an RSS limit far above what this process reaches (the event-loop limit stays off: a busy test machine must not
  // trip it); the RSS reads tell when a sample has been taken
  const rssReads = t.capture(process.memoryUsage, 'rss', process.memoryUsage.rss)
  const app = await buildTestApp(t, upstream.url, {}, {}, { MAX_RSS_BYTES: String(64 * 1024 ** 3) })
  await app.ready()
  await until(() => rssReads.calls.length > 0, { what: 'a pressure sample' })
  t.notOk(app.isUnderPressure(), 'sampled, and not under pressure')
  t.equal((await app.inject({ url: '/orders/54?machine=16327129' })).statusCode, 200)
})

t.test('a failed RSS reading (EMFILE when descriptors run out) is returned, not thrown; the last reading stands and sampling goes on', async (t) => {
  const emfile = Object.assign(new Error('EMFILE: too many open files, uv_resident_set_memory'), { code: 'EMFILE' })
  const readings: Array<number | Error> = [2000, emfile, 500]
  const monitor = createPressureMonitor({ maxEventLoopDelayMs: 0, maxRssBytes: 1000 }, () => {
    const next = readings.shift()!
    if (next instanceof Error) throw next
    return next
  })
  t.teardown(() => monitor.stop())
  t.equal(monitor.sample(), undefined)
  t.same(monitor.overload(), { type: 'rssBytes', value: 2000 })
  t.equal(monitor.sample(), emfile, 'the error is handed back')
  t.same(monitor.overload(), { type: 'rssBytes', value: 2000 }, 'the last good reading stands')
  t.equal(monitor.sample(), undefined)
  t.equal(monitor.overload(), undefined, 'the next good reading counts')
})

t.test('an interval with no event-loop sample at all counts as a blocked loop', async (t) => {
  const monitor = createPressureMonitor({ maxEventLoopDelayMs: 1000, maxRssBytes: 0 }, () => 0)
  t.teardown(() => monitor.stop())
  monitor.sample()
  monitor.sample()
  t.same(monitor.overload(), { type: 'eventLoopDelay', value: Infinity })
})
