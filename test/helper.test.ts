import t from 'tap'
import { fakeClock, startUpstream, testConfig, until } from './helper.js'

// the tests' own contract: a busy test machine must not turn answers into 503s, except in the
// tests about shedding, which turn it on through `env`
t.test('test apps run with load shedding off unless a test turns it on', async (t) => {
  t.match(testConfig('http://127.0.0.1:9').limits, { maxEventLoopDelayMs: 0, maxRssBytes: 0 })
  t.match(testConfig('http://127.0.0.1:9', {}, { MAX_RSS_BYTES: '1' }).limits, { maxEventLoopDelayMs: 0, maxRssBytes: 1 })
})

t.test('the fake clock moves only when told, running the timers due on the way in time order', async (t) => {
  const clock = fakeClock(1000)
  const ran: Array<[string, number]> = []
  clock.setTimer(() => { ran.push(['b', clock.now()]) }, 200)
  clock.scheduler.setTimeout(() => { ran.push(['a', clock.now()]) }, 100)
  const cleared = clock.setTimer(() => { ran.push(['cleared', clock.now()]) }, 150)
  clock.clearTimer(cleared)
  t.equal(clock.now(), 1000)
  t.equal(clock.pending(), 2)
  await clock.advance(199)
  t.same(ran, [['a', 1100]], 'each at its own time; not the one not yet due, nor the cleared one')
  t.equal(clock.now(), 1199)
  await clock.advance(1)
  t.same(ran, [['a', 1100], ['b', 1200]])
  t.equal(clock.pending(), 0)
})

t.test('the fake clock runs a timer that a timer\'s promise sets, when it falls due, and waits for the work timers return', async (t) => {
  const clock = fakeClock()
  const ran: number[] = []
  let settled = false
  clock.setTimer(async () => {
    await Promise.resolve()
    clock.setTimer(() => { ran.push(clock.now()) }, 50)
  }, 10)
  clock.setTimer(async () => { await new Promise((resolve) => setImmediate(resolve)); settled = true }, 20)
  await clock.advance(100)
  t.same(ran, [60], 'set from a promise, run within the same advance')
  t.ok(settled, 'advance resolved after the work the timers returned')
})

t.test('until resolves once the condition holds, and fails naming what it waited for', async (t) => {
  let polls = 0
  await until(() => ++polls === 3)
  t.equal(polls, 3)
  await until(async () => await Promise.resolve(true))
  await t.rejects(until(() => false, { timeoutMs: 50, what: 'the impossible' }), { message: 'the impossible: did not hold within 50 ms' })
})

t.test('the recording upstream records each request, body and all, before its handler answers', async (t) => {
  const upstream = await startUpstream(t, (_req, res, body) => { res.end(`got ${body}`) })
  const res = await fetch(`${upstream.url}/path?q=1`, { method: 'POST', headers: { 'x-test': 'yes' }, body: 'hello' })
  t.equal(await res.text(), 'got hello')
  t.match(upstream.requests, [{ method: 'POST', url: '/path?q=1', headers: { 'x-test': 'yes' }, body: 'hello' }])
})
