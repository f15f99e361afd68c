import { trace } from '@opentelemetry/api'
import type { IncomingMessage, ServerResponse } from 'node:http'
import t from 'tap'
import { createLimiter } from '../../src/upstream/limiter.js'
import { recordingTracer } from '../fixtures/spans.js'
import { answerOrder, buildTestApp, startUpstream, until } from '../helper.js'

const flush = () => new Promise((resolve) => setImmediate(resolve))

t.test('at most `concurrency` calls run; the queue is bounded; overflow is refused at once', async (t) => {
  const limiter = createLimiter({ concurrency: 2, maxQueue: 1 })
  const releases: Array<() => void> = []
  const call = () => new Promise<string>((resolve) => releases.push(() => resolve('done')))
  const deadlineAt = Date.now() + 5000
  const running = [limiter.run(call, deadlineAt), limiter.run(call, deadlineAt), limiter.run(call, deadlineAt)]
  await flush()
  t.equal(limiter.inFlight, 2)
  t.equal(limiter.queued, 1)
  await t.rejects(limiter.run(call, deadlineAt), { code: 'UPSTREAM_BUSY', retryAfter: 1 })
  while (releases.length > 0) releases.shift()!()
  await flush()
  releases.shift()?.()
  t.same(await Promise.all(running), ['done', 'done', 'done'])
})

t.test('a queued call gets the time left when its slot is granted, not the whole deadline', async (t) => {
  let now = 0
  const limiter = createLimiter({ concurrency: 1, maxQueue: 5, now: () => now })
  let release!: () => void
  const granted: number[] = []
  const first = limiter.run(async (timeLeftMs) => { granted.push(timeLeftMs); await new Promise<void>((resolve) => { release = resolve }) }, 2000)
  const second = limiter.run(async (timeLeftMs) => { granted.push(timeLeftMs) }, 2000)
  await flush()
  now += 700
  release()
  await Promise.all([first, second])
  t.same(granted, [2000, 1300], 'the 700 ms spent waiting came out of the second call\'s deadline')
})

t.test('a slot granted after the deadline: the call is never made, 503 UPSTREAM_BUSY', async (t) => {
  let now = 0
  const limiter = createLimiter({ concurrency: 1, maxQueue: 5, now: () => now })
  let release!: () => void
  let called = false
  const first = limiter.run(() => new Promise<void>((resolve) => { release = resolve }), 2000)
  const second = limiter.run(async () => { called = true }, 2000)
  await flush()
  now += 2500
  release()
  await first
  await t.rejects(second, { code: 'UPSTREAM_BUSY', retryAfter: 1, detail: /the vendor was not called/ })
  t.notOk(called)
})

t.test('a queued call gives up at its deadline without being made', async (t) => {
  const limiter = createLimiter({ concurrency: 1, maxQueue: 5 })
  let release!: () => void
  const blocking = limiter.run(() => new Promise<void>((resolve) => { release = resolve }), Date.now() + 5000)
  let called = false
  await t.rejects(limiter.run(async () => { called = true }, Date.now() + 50), { code: 'UPSTREAM_BUSY', retryAfter: 1, detail: /the vendor was not called/ })
  t.equal(limiter.queued, 0, 'and left the queue')
  release()
  await blocking
  t.notOk(called)
})

t.test('with the vendor holding every call and the cap reached, overflow gets 503 without waiting for it', async (t) => {
  const held: Array<[IncomingMessage, ServerResponse]> = []
  let answering = false
  const upstream = await startUpstream(t, (req, res) => { if (answering) answerOrder(req, res); else held.push([req, res]) })
  const app = await buildTestApp(t, upstream.url, {}, {}, { VENDOR_MAX_CONCURRENCY: '2', VENDOR_MAX_QUEUE: '2', VENDOR_TIMEOUT_MS: '60000' })
  const done: number[] = []
  const pending = Array.from({ length: 10 }, (_, i) => app.inject({ url: `/orders/${i + 1}?machine=16327129` })
    .then((res) => { done.push(res.statusCode); return res }))
  // the 6 beyond 2 running and 2 queued are answered while the vendor holds the 2 it got
  await until(() => done.length >= 6 && held.length >= 2, { what: 'the overflow answered' })
  t.same(done, [503, 503, 503, 503, 503, 503])
  t.equal(held.length, 2, 'only the running calls reached the vendor, and it answered neither')
  answering = true
  for (const [req, res] of held.splice(0)) answerOrder(req, res)
  const answers = await Promise.all(pending)
  t.equal(answers.filter((res) => res.statusCode === 200).length, 4, '2 running + 2 queued are served')
  for (const res of answers.filter((res) => res.statusCode === 503)) {
    t.equal(res.json().code, 'UPSTREAM_BUSY')
    t.equal(res.headers['retry-after'], '1')
  }
})

t.test('traced: each wait for a slot is a span in its caller\'s trace, and a queued call runs in its own caller\'s context', async (t) => {
  const { tracer, exporter } = recordingTracer(t)
  const limiter = createLimiter({ concurrency: 1, maxQueue: 1, tracer })
  const deadlineAt = Date.now() + 5000
  let release!: () => void
  const activeIn: Record<string, string | undefined> = {}
  const callFor = (name: string, hold: boolean) => async () => {
    activeIn[name] = trace.getActiveSpan()?.spanContext().spanId
    if (hold) await new Promise<void>((resolve) => { release = resolve })
  }
  const within = async <T>(name: string, body: () => Promise<T>): Promise<{ spanId: string, result: Promise<T> }> =>
    await tracer.startActiveSpan(name, async (span) => ({ spanId: span.spanContext().spanId, result: body().finally(() => span.end()) }))

  const a = await within('a', () => limiter.run(callFor('a', true), deadlineAt))
  const b = await within('b', () => limiter.run(callFor('b', false), deadlineAt))
  const c = await within('c', () => limiter.run(callFor('c', false), deadlineAt))
  await t.rejects(c.result, { code: 'UPSTREAM_BUSY' }, 'the queue is full')
  await flush()
  release()
  await Promise.all([a.result, b.result])

  t.equal(activeIn.b, b.spanId, 'the queued call ran in its own request\'s context, not in the one whose end let it start')
  const waits = exporter.getFinishedSpans().filter((span) => span.name === 'vendor slot wait')
  const waitOf = (parent: string) => waits.find((span) => span.parentSpanContext?.spanId === parent)
  t.equal(waits.length, 3)
  t.equal(waitOf(a.spanId)?.status.code, 0, 'a free slot: a wait of no length')
  t.equal(waitOf(b.spanId)?.attributes['vending.limiter.queued'], 0, 'nothing queued ahead of b')
  // span times come from one monotonic clock: compare them with each other, never with Date.now()
  const [seconds, nanos] = waitOf(b.spanId)!.duration
  t.ok(waitOf(b.spanId)!.ended && seconds * 1e9 + nanos > 0, 'b\'s wait ended, after a wait of some length (until a\'s call let go)')
  t.match(waitOf(c.spanId), { status: { code: 2, message: 'UPSTREAM_BUSY' }, attributes: { 'error.type': 'UPSTREAM_BUSY', 'vending.limiter.queued': 1 } }, 'refused: an error')

  await limiter.run(async () => {}, Date.now() + 5000)
  t.equal(exporter.getFinishedSpans().filter((span) => span.name === 'vendor slot wait').length, 3, 'outside a sampled request (no recording span): no wait span')
})
