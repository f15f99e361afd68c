import t from 'tap'
import { createLimiter } from '../../src/vendor/limiter.js'
import { buildTestApp, json, startUpstream } from '../helper.js'

t.test('at most `concurrency` calls run; the queue is bounded; overflow is refused at once', async (t) => {
  const limiter = createLimiter({ concurrency: 2, maxQueue: 1 })
  const releases: Array<() => void> = []
  const call = () => new Promise<string>((resolve) => releases.push(() => resolve('done')))
  const running = [limiter.run(call, 5000), limiter.run(call, 5000), limiter.run(call, 5000)]
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(limiter.inFlight, 2)
  t.equal(limiter.queued, 1)
  await t.rejects(limiter.run(call, 5000), { code: 'UNAVAILABLE', retryAfter: 1 })
  while (releases.length > 0) releases.shift()!()
  await new Promise((resolve) => setImmediate(resolve))
  releases.shift()?.()
  t.same(await Promise.all(running), ['done', 'done', 'done'])
})

t.test('a queued call gives up at its deadline', async (t) => {
  // AbortSignal.timeout's timer does not hold the event loop open; a server's socket would
  const keepAlive = setTimeout(() => {}, 5000)
  t.teardown(() => clearTimeout(keepAlive))
  const limiter = createLimiter({ concurrency: 1, maxQueue: 5 })
  let release!: () => void
  const blocking = limiter.run(() => new Promise<void>((resolve) => { release = resolve }), 5000)
  await t.rejects(limiter.run(async () => 'never', 50), { code: 'UPSTREAM_TIMEOUT' })
  release()
  await blocking
})

t.test('with the vendor slowed down and the cap reached, overflow gets 503 quickly', async (t) => {
  const upstream = await startUpstream(t, (req, res) => { setTimeout(() => json(res, 200, { code: 0, data: { order_id: Number(/orders\/(\d+)/.exec(req.url ?? '')?.[1]) } }), 400) })
  const app = await buildTestApp(t, upstream.url, {}, {}, { VENDOR_MAX_CONCURRENCY: '2', VENDOR_MAX_QUEUE: '2' })
  const started = performance.now()
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => app.inject({ url: `/orders/${i + 1}?machine=16327129` })
    .then((res) => ({ status: res.statusCode, ms: performance.now() - started, retryAfter: res.headers['retry-after'], code: res.json().code }))))
  const shed = answers.filter((a) => a.status === 503)
  t.equal(answers.filter((a) => a.status === 200).length, 4, '2 running + 2 queued are served')
  t.equal(shed.length, 6)
  for (const a of shed) {
    t.equal(a.code, 'UNAVAILABLE')
    t.equal(a.retryAfter, '1')
    t.ok(a.ms < 200, `refused in ${a.ms.toFixed(0)} ms, without waiting for the vendor`)
  }
})
