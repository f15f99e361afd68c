import t from 'tap'
import type { Served } from '../../src/orders/outcome.js'
import type { WatchListener } from '../../src/orders/live/fan-out.js'
import { outcomeTag } from '../../src/orders/live/predicates.js'
import { createWatchers } from '../../src/orders/live/watchers.js'
import type { Order } from '../../src/orders/schema.js'
import { MAX_WAIT_S, nextChange, preferredWait } from '../../src/routes/long-poll.js'
import { createMemoryWatchBus } from '../../src/shared-state/memory/watch-bus.js'
import { order } from '../orders/fixtures/read-through.js'
import { fakeClock } from '../fixtures/clock.js'
import { QUIET } from '../fixtures/logger.js'

t.test('the wait preference of RFC 7240, clamped, malformed ones ignored', async (t) => {
  const cases: Array<[string | string[] | undefined, number | undefined]> = [
    [undefined, undefined],
    ['wait=10', 10],
    ['WAIT=5', 5],
    ['wait = 7', 7],
    ['wait="8"', 8],
    ['respond-async, wait=12', 12],
    [['return=minimal', 'wait=3'], 3],
    ['wait=10; foo=bar', 10],
    ['wait=31', MAX_WAIT_S],
    ['wait=999999999', MAX_WAIT_S],
    ['wait=0', undefined],
    ['wait=-1', undefined],
    ['wait=1.5', undefined],
    ['wait=abc', undefined],
    ['wait', undefined],
    ['waiting=5', undefined],
    ['', undefined]
  ]
  for (const [header, expected] of cases) t.equal(preferredWait(header), expected, JSON.stringify(header))
})

/** Watchers over a scripted orders service on a hand-driven clock, which the waits use too. */
function setup () {
  const clock = fakeClock()
  let answer: () => Served = () => served(order(1))
  const watchers = createWatchers({ getOrder: async () => answer(), log: QUIET, intervalMs: 1000, bus: createMemoryWatchBus(), clock })
  const wait = (id: number, tag: string, signal?: AbortSignal) => nextChange(watchers, { id, machineNo: '16327129', tag, timeoutMs: 5000, signal }, clock)
  return { clock, watchers, wait, answer: (next: () => Served) => { answer = next } }
}

const served = (o: Order, result: Served['result'] = 'miss'): Served => ({ outcome: { kind: 'order', order: o, storedAt: 0, freshMs: 1000 }, result, tier: 'vendor' })

t.test('nextChange: the next outcome with another tag, or nothing after the wait, on close or abort', async (t) => {
  const { clock, watchers, wait, answer } = setup()
  const first = wait(1, 'no such tag')
  await clock.advance(0)
  const current = await first
  t.match(current, { type: 'change', outcome: { kind: 'order' } }, 'a tag the watcher does not have: told at once')
  const tag = outcomeTag(current!.outcome)
  const timedOut = wait(1, tag)
  await clock.advance(4999)
  t.equal(watchers.size, 1, 'still waiting')
  await clock.advance(1)
  t.equal(await timedOut, undefined, 'unchanged: nothing after the wait')
  const changed = wait(1, tag)
  answer(() => served({ ...order(1), status: 'SUCCESS' }, 'hit'))
  await clock.advance(1000)
  t.match(await changed, { type: 'change', outcome: { kind: 'order', order: { status: 'SUCCESS' } }, result: 'hit', tier: 'vendor' }, 'with how the poller got it')
  const aborted = new AbortController()
  const leaving = wait(3, 'x', aborted.signal)
  aborted.abort()
  t.equal(await leaving, undefined)
  const early = new AbortController()
  early.abort()
  t.equal(await wait(5, 'x', early.signal), undefined, 'a client gone already: no wait at all')
  await clock.advance(0)
  t.equal(watchers.size, 0, 'every wait released its watcher')
  t.equal(clock.pending(), 0, 'and its timer')
  const closing = wait(4, 'x')
  watchers.close()
  t.equal(await closing, undefined)
})

t.test('nextChange: told at once within watch, it still leaves', async (t) => {
  const clock = fakeClock()
  const left: string[] = []
  const change = { type: 'change', outcome: served(order(1)).outcome, result: 'hit', tier: 'memory', tag: 'new' } as const
  const watchers = {
    watch: (_id: number, _machineNo: string, listener: WatchListener) => { listener(change); return () => { left.push('left') } }
  }
  t.equal(await nextChange(watchers, { id: 1, machineNo: '16327129', tag: 'old', timeoutMs: 5000 }, clock), change)
  t.same(left, ['left'])
  t.equal(clock.pending(), 0)
})
