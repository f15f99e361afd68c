import t from 'tap'
import { createHeartbeats } from '../../src/routes/heartbeats.js'
import { fakeClock } from '../fixtures/clock.js'

/** A hand-run `later`: the chunks it was given, run when the test says. */
function laterByHand () {
  const queue: Array<() => void> = []
  return { later: (next: () => void) => { queue.push(next) }, get waiting () { return queue.length }, runAll: () => { while (queue.length > 0) queue.shift()!() } }
}

t.test('one timer beats every stream once per interval, and runs only while a stream is open', async (t) => {
  const clock = fakeClock()
  const turns = laterByHand()
  const heartbeats = createHeartbeats({ intervalMs: 1000, clock, later: turns.later })
  t.equal(clock.pending(), 0, 'no stream, no timer')
  const beats = [0, 0, 0]
  const leave = beats.map((_, i) => heartbeats.add(() => { beats[i]!++; return true }))
  t.equal(clock.pending(), 1, 'one timer for three streams')
  await clock.advance(999)
  t.same(beats, [0, 0, 0])
  await clock.advance(1)
  turns.runAll()
  t.same(beats, [1, 1, 1])
  leave[1]!()
  await clock.advance(1000)
  turns.runAll()
  t.same(beats, [2, 1, 2], 'a stream that left is not beaten')
  leave[0]!()
  leave[2]!()
  t.equal(clock.pending(), 0, 'the last one gone, the timer is too')
  t.equal(heartbeats.size, 0)
})

t.test('a beat goes out a chunk at a time; a stream that leaves before its chunk is skipped', async (t) => {
  const clock = fakeClock()
  const turns = laterByHand()
  const heartbeats = createHeartbeats({ intervalMs: 1000, clock, chunkSize: 2, later: turns.later })
  const beaten: number[] = []
  const leave = [0, 1, 2, 3, 4].map((i) => heartbeats.add(() => { beaten.push(i); return true }))
  await clock.advance(1000)
  t.same(beaten, [0, 1], 'the first chunk on the timer')
  leave[3]!()
  turns.runAll()
  t.same(beaten, [0, 1, 2, 4])
  t.equal(clock.pending(), 1, 'the next beat is set')
})
