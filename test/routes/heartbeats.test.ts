import t from 'tap'
import { createHeartbeats } from '../../src/routes/heartbeats.js'
import { fakeClock } from '../fixtures/clock.js'

t.test('one timer beats every stream once per interval, and runs only while a stream is open', async (t) => {
  const clock = fakeClock()
  const heartbeats = createHeartbeats({ intervalMs: 1000, clock, slots: 4 })
  t.equal(clock.pending(), 0, 'no stream, no timer')
  const beats = [0, 0, 0]
  const leave = beats.map((_, i) => heartbeats.add(() => { beats[i]!++; return true }))
  t.equal(clock.pending(), 1, 'one timer for three streams')
  await clock.advance(999)
  t.same(beats, [1, 1, 1], 'each beaten within the interval')
  await clock.advance(1000)
  t.same(beats, [2, 2, 2], 'and once in each interval after it')
  leave[1]!()
  await clock.advance(1000)
  t.same(beats, [3, 2, 3], 'a stream that left is not beaten')
  leave[0]!()
  leave[2]!()
  t.equal(clock.pending(), 0, 'the last one gone, the timer is too')
  t.equal(heartbeats.size, 0)
  leave[2]!()
  t.equal(heartbeats.size, 0, 'leaving twice counts once')
})

t.test('the streams are spread over the slots: one group per step, never all at once', async (t) => {
  const clock = fakeClock()
  const heartbeats = createHeartbeats({ intervalMs: 1000, clock, slots: 4 })
  let beaten = 0
  const leave = Array.from({ length: 100 }, () => heartbeats.add(() => { beaten++; return true }))
  const perStep: number[] = []
  for (let step = 0; step < 8; step++) {
    const before = beaten
    await clock.advance(250)
    perStep.push(beaten - before)
  }
  t.same(perStep, [25, 25, 25, 25, 25, 25, 25, 25], 'a quarter of the streams every quarter interval')
  // churn: the streams of one group leave, and newcomers fill the smallest group first
  for (let i = 0; i < 100; i += 4) leave[i]!()
  for (let i = 0; i < 25; i++) heartbeats.add(() => { beaten++; return true })
  const after: number[] = []
  for (let step = 0; step < 4; step++) {
    const before = beaten
    await clock.advance(250)
    after.push(beaten - before)
  }
  t.same(after, [25, 25, 25, 25], 'newcomers joined the emptied group')
})
