import t from 'tap'
import { createPollTurns } from '../../../src/orders/live/poll-turns.js'
import { Poller, type PollResult } from '../../../src/orders/live/poller.js'
import { fakeClock } from '../../fixtures/clock.js'

/** A poller on a hand-driven clock whose polls answer what `result` says; `polls` records each (refresh or not). With `turns`, its background polls wait in a line. */
function setup (options: { intervalMs?: number, turns?: boolean } = {}) {
  const clock = fakeClock()
  const polls: boolean[] = []
  const errors: unknown[] = []
  let result: () => PollResult | Promise<PollResult> = () => 'answered'
  const poller = new Poller({
    poll: async (refresh) => { polls.push(refresh); return await result() },
    intervalMs: options.intervalMs ?? 1000,
    maxBackoffMs: 30_000,
    wakeIntervalMs: 250,
    clock,
    onError: (error) => { errors.push(error) },
    turns: options.turns === true ? createPollTurns({ clock }) : undefined
  })
  return { clock, polls, errors, poller, answer: (next: typeof result) => { result = next } }
}

t.test('a poll at once, then one per interval; nothing after stop', async (t) => {
  const { clock, polls, poller } = setup()
  poller.start()
  t.same(polls, [], 'not within start itself')
  await clock.advance(0)
  t.same(polls, [false])
  await clock.advance(2999)
  t.equal(polls.length, 3)
  await clock.advance(1)
  t.equal(polls.length, 4)
  poller.stop()
  t.ok(poller.stopped)
  t.equal(clock.pending(), 0, 'its timer is cleared')
  poller.wake()
  await clock.advance(10_000)
  t.equal(polls.length, 4, 'a wake does not restart it')
})

t.test('failed polls double the wait up to the longest backoff; an answer resets it', async (t) => {
  const { clock, polls, poller, answer } = setup()
  poller.start()
  await clock.advance(0)
  answer(() => 'failed')
  const at = (ms: number) => clock.advance(ms).then(() => polls.length)
  t.equal(await at(1000), 2, 'fails: next in 2 s')
  t.equal(await at(1999), 2)
  t.equal(await at(1), 3, 'fails: next in 4 s')
  t.equal(await at(4000), 4, 'fails: next in 8 s')
  t.equal(await at(8000), 5, 'fails: next in 16 s')
  t.equal(await at(16_000), 6, 'fails: next in 30 s, not 32')
  t.equal(await at(29_999), 6)
  t.equal(await at(1), 7, 'capped')
  answer(() => 'answered')
  t.equal(await at(30_000), 8, 'answered: back to the interval')
  t.equal(await at(1000), 9)
})

t.test('a poll that throws is reported and counts as failed', async (t) => {
  const { clock, polls, errors, poller, answer } = setup()
  const boom = new Error('boom')
  answer(() => { throw boom })
  poller.start()
  await clock.advance(0)
  t.same(errors, [boom])
  await clock.advance(1999)
  t.equal(polls.length, 1, 'backed off: 2 s, not 1')
  await clock.advance(1)
  t.equal(polls.length, 2, 'and still polling')
})

t.test('a wake brings the next poll forward as a refresh, at most once per wake interval', async (t) => {
  const { clock, polls, poller } = setup({ intervalMs: 60_000 })
  poller.start()
  await clock.advance(0)
  poller.wake()
  await clock.advance(0)
  t.same(polls, [false, true], 'at once, forced')
  for (let i = 0; i < 100; i++) poller.wake()
  await clock.advance(249)
  t.equal(polls.length, 2, 'a flood waits out the bound')
  await clock.advance(1)
  t.same(polls, [false, true, true], 'then one refresh for the whole flood')
  await clock.advance(59_999)
  t.equal(polls.length, 3)
  await clock.advance(1)
  t.same(polls, [false, true, true, false], 'then the interval again')
})

t.test('a wake during a poll refreshes once that poll is done; never two polls at once', async (t) => {
  const { clock, polls, poller, answer } = setup({ intervalMs: 60_000 })
  let release!: () => void
  answer(() => new Promise<PollResult>((resolve) => { release = () => { resolve('answered') } }))
  poller.start()
  await clock.advance(0)
  poller.wake()
  poller.wake()
  await clock.advance(1000)
  t.same(polls, [false], 'the poll in flight is not joined by another')
  answer(() => 'answered')
  release()
  await clock.advance(0)
  t.same(polls, [false, true], 'the poll in flight may have started before the change')
})

t.test('stopped during a poll: nothing is scheduled after it', async (t) => {
  const { clock, polls, poller, answer } = setup()
  let release!: () => void
  answer(() => new Promise<PollResult>((resolve) => { release = () => { resolve('answered') } }))
  poller.start()
  await clock.advance(0)
  poller.stop()
  release()
  await clock.advance(10_000)
  t.equal(polls.length, 1)
  t.equal(clock.pending(), 0)
})

/** Polls answered from a script, one result each, then 'answered'; records when each happened. */
function scripted (clock: { now: () => number }, results: PollResult[]) {
  const at: number[] = []
  return { at, next: () => { at.push(clock.now()); return results.shift() ?? 'answered' } }
}

t.test('a poll the budget put off is neither an answer nor a failure: it is asked again when the budget said, then the interval', async (t) => {
  const { clock, poller, answer } = setup({ turns: true })
  const script = scripted(clock, [{ deferredMs: 300 }, { deferredMs: 200 }])
  answer(script.next)
  poller.start()
  await clock.advance(2000)
  t.same(script.at, [0, 300, 500, 1500], 'no backoff: the interval counts from the poll that was answered')
})

t.test('deferrals do not reset or add to the backoff of failing polls', async (t) => {
  const { clock, poller, answer } = setup({ turns: true })
  const script = scripted(clock, ['failed', { deferredMs: 500 }, 'failed', 'failed'])
  answer(script.next)
  poller.start()
  await clock.advance(10_000)
  t.same(script.at.slice(0, 5), [0, 2000, 2500, 6500, 14500].filter((ms) => ms <= 10_000), 'failed: 2 s; put off 500 ms; failed: 4 s; failed: 8 s')
})

t.test('a wake while the poll waits in line takes it out of the line and refreshes now', async (t) => {
  const { clock, polls, poller, answer } = setup({ turns: true })
  const script = scripted(clock, [{ deferredMs: 5000 }])
  answer(script.next)
  poller.start()
  await clock.advance(100)
  poller.wake()
  await clock.advance(0)
  t.same(polls, [false, true], 'the refresh, without waiting for the line')
  await clock.advance(10_000)
  t.same(script.at.slice(0, 4), [0, 100, 5000, 6000], 'the poll the line held is gone; the next, due one interval after the refresh, waits until the line goes again')
})

t.test('a refresh the budget put off is tried again when it said, still a refresh, without the line', async (t) => {
  const { clock, polls, poller, answer } = setup({ intervalMs: 60_000, turns: true })
  poller.start()
  await clock.advance(0)
  const script = scripted(clock, [{ deferredMs: 120 }])
  answer(script.next)
  poller.wake()
  await clock.advance(120)
  t.same(polls, [false, true, true])
  t.same(script.at, [0, 120])
})

t.test('stopped while waiting in line: the line forgets it', async (t) => {
  const { clock, polls, poller, answer } = setup({ turns: true })
  answer(() => ({ deferredMs: 1000 }))
  poller.start()
  await clock.advance(0)
  poller.stop()
  await clock.advance(5000)
  t.same(polls, [false])
  t.equal(clock.pending(), 0, 'no timer left')
})
