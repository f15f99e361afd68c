import t from 'tap'
import { createPollTurns, type PollDeferred } from '../../../src/orders/live/poll-turns.js'
import { fakeClock } from '../../fixtures/clock.js'

/**
 * A line on the fake clock, and turns that do what the test says: `started` records each start
 * by name; `admit(name)`, `finish(name)` and `defer(name, ms)` settle the turn that started last.
 */
function setup (options: { parallel?: number, stallMs?: number } = {}) {
  const clock = fakeClock()
  const turns = createPollTurns({ clock, ...options })
  const started: string[] = []
  const running = new Map<string, { admitted: () => void, settle: (deferred?: PollDeferred) => void }>()
  const take = (name: string) => turns.take((admitted) => new Promise((resolve) => {
    started.push(name)
    running.set(name, { admitted, settle: resolve })
  }))
  const settle = async (name: string, deferred?: PollDeferred) => {
    running.get(name)!.settle(deferred)
    await clock.advance(0)
  }
  return {
    clock,
    turns,
    started,
    take,
    admit: async (name: string) => { running.get(name)!.admitted(); await clock.advance(0) },
    finish: (name: string) => settle(name),
    defer: (name: string, deferredMs: number) => settle(name, { deferredMs })
  }
}

t.test('first come, first served, a few at a time: the next starts once one got past the budget or ended', async (t) => {
  const { started, take, admit, finish, turns } = setup({ parallel: 2 })
  for (const name of ['a', 'b', 'c', 'd']) take(name)
  t.same(started, ['a', 'b'], 'two start')
  t.equal(turns.waiting, 2)
  await admit('a')
  t.same(started, ['a', 'b', 'c'], 'a is past the budget (its call may take long): c starts')
  await finish('b')
  t.same(started, ['a', 'b', 'c', 'd'], 'b ended (a cache hit, say): d starts')
  await finish('a')
  t.equal(turns.waiting, 0)
})

t.test('a deferred turn keeps its place at the head, and the line waits as long as the budget said', async (t) => {
  const { clock, started, take, admit, defer, finish } = setup({ parallel: 1 })
  for (const name of ['a', 'b', 'c']) take(name)
  await admit('a')
  t.same(started, ['a', 'b'])
  await defer('b', 300)
  t.same(started, ['a', 'b'], 'nothing starts while the budget has no call')
  await finish('a')
  await clock.advance(299)
  t.same(started, ['a', 'b'], 'not even when a turn ends')
  await clock.advance(1)
  t.same(started, ['a', 'b', 'b'], 'then b again, ahead of c')
  await admit('b')
  t.same(started, ['a', 'b', 'b', 'c'])
})

t.test('turns deferred together go back in the order they came', async (t) => {
  const { clock, started, take, defer } = setup({ parallel: 3 })
  for (const name of ['a', 'b', 'c', 'd']) take(name)
  await defer('c', 100)
  await defer('a', 100)
  await defer('b', 100)
  await clock.advance(100)
  t.same(started.slice(3), ['a', 'b', 'c'], 'a, b, c, then d: the line\'s order, not the deferrals\'')
})

t.test('a turn taken out of the line never starts; one taken out while running is not put back', async (t) => {
  const { started, take, defer, turns } = setup({ parallel: 1 })
  const leaveA = take('a')
  const leaveB = take('b')
  take('c')
  leaveB()
  t.equal(turns.waiting, 1, 'only c waits')
  leaveA()
  await defer('a', 100)
  t.same(started, ['a', 'c'], 'a, put off after it left, is not put back (its poller stopped); c goes at once')
})

t.test('a turn that neither gets past the budget nor ends does not hold up the line for long', async (t) => {
  const { clock, started, take } = setup({ parallel: 1, stallMs: 100 })
  take('a')
  take('b')
  await clock.advance(99)
  t.same(started, ['a'])
  await clock.advance(1)
  t.same(started, ['a', 'b'], 'a may be waiting on another replica\'s call')
})

t.test('close drops every queued turn and its timers', async (t) => {
  const { clock, started, take, defer, turns } = setup({ parallel: 1 })
  take('a')
  take('b')
  await defer('a', 1000)
  turns.close()
  t.equal(turns.waiting, 0)
  t.equal(clock.pending(), 0, 'no pause or stall timer left')
  await clock.advance(10_000)
  t.same(started, ['a'])
})
