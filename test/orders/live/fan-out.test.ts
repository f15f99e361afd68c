import t from 'tap'
import { createFanOut, type WatchEvent } from '../../../src/orders/live/fan-out.js'
import type { Order } from '../../../src/orders/schema.js'
import type { Served } from '../../../src/orders/outcome.js'
import { outcomeTag } from '../../../src/orders/live/predicates.js'
import { order } from '../fixtures/read-through.js'
import { until } from '../../fixtures/until.js'

const served = (status: Order['status'], result: Served['result'] = 'miss'): Served =>
  ({ outcome: { kind: 'order', order: { ...order(1), status }, storedAt: 0, freshMs: 1000 }, result, tier: 'vendor' })
const statusOf = (event: WatchEvent | undefined) => event?.type === 'change' && event.outcome.kind === 'order' ? event.outcome.order.status : event?.type

t.test('every watcher is told of each change, with how it was got; a repeat is told to nobody', async (t) => {
  const fanOut = createFanOut()
  const a: WatchEvent[] = []
  const b: WatchEvent[] = []
  fanOut.subscribe((event) => { a.push(event) })
  fanOut.subscribe((event) => { b.push(event) })
  t.equal(fanOut.size, 2)
  t.equal(fanOut.publish(served('NOTPAY', 'hit')), true)
  t.equal(fanOut.publish(served('NOTPAY', 'miss')), false, 'the same outcome again: no change')
  t.equal(fanOut.publish(served('SUCCESS')), true)
  t.same(a.map(statusOf), ['NOTPAY', 'SUCCESS'])
  t.same(b.map(statusOf), ['NOTPAY', 'SUCCESS'])
  t.match(a[0], { type: 'change', result: 'hit', tier: 'vendor', tag: outcomeTag(served('NOTPAY').outcome) })
})

t.test('a newcomer is told the latest at once, unless it has its tag', async (t) => {
  const fanOut = createFanOut()
  fanOut.publish(served('NOTPAY'))
  const fresh: WatchEvent[] = []
  const current: WatchEvent[] = []
  fanOut.subscribe((event) => { fresh.push(event) })
  fanOut.subscribe((event) => { current.push(event) }, outcomeTag(served('NOTPAY').outcome))
  t.same(fresh.map(statusOf), ['NOTPAY'], 'at once, within subscribe')
  t.same(current, [], 'it has that one')
  fanOut.publish(served('SUCCESS'))
  t.same(current.map(statusOf), ['SUCCESS'])
  const late: WatchEvent[] = []
  fanOut.subscribe((event) => { late.push(event) }, 'an older tag')
  t.same(late.map(statusOf), ['SUCCESS'])
})

t.test('leaving: told nothing more; the removal says whether it removed', async (t) => {
  const fanOut = createFanOut()
  const events: WatchEvent[] = []
  const leave = fanOut.subscribe((event) => { events.push(event) })
  t.equal(leave(), true)
  t.equal(leave(), false, 'gone already')
  t.equal(fanOut.size, 0)
  fanOut.publish(served('NOTPAY'))
  t.same(events, [])
})

t.test('a watcher that leaves while being told does not stop the others being told', async (t) => {
  const fanOut = createFanOut()
  const told: string[] = []
  const leaveFirst = fanOut.subscribe(() => { told.push('first'); leaveFirst() })
  fanOut.subscribe(() => { told.push('second') })
  fanOut.publish(served('NOTPAY'))
  t.same(told, ['first', 'second'])
  t.equal(fanOut.size, 1)
})

t.test('close tells every watcher once and forgets them', async (t) => {
  const fanOut = createFanOut()
  const events: WatchEvent[] = []
  const leave = fanOut.subscribe((event) => { events.push(event); leave() })
  fanOut.subscribe((event) => { events.push(event) })
  fanOut.close()
  t.same(events, [{ type: 'closed' }, { type: 'closed' }])
  t.equal(fanOut.size, 0)
})

/** A hand-run `later`: the chunks it was given, run when the test says. */
function laterByHand () {
  const queue: Array<() => void> = []
  return { later: (next: () => void) => { queue.push(next) }, get waiting () { return queue.length }, runOne: () => { queue.shift()?.() } }
}

t.test('a change goes out a chunk at a time: the first chunk at once, the next on a later turn', async (t) => {
  const turns = laterByHand()
  const fanOut = createFanOut({ chunkSize: 3, later: turns.later })
  const told: number[] = []
  for (let i = 0; i < 7; i++) fanOut.subscribe(() => { told.push(i) })
  t.equal(fanOut.publish(served('NOTPAY')), true)
  t.same(told, [0, 1, 2], 'the first chunk within publish')
  t.equal(turns.waiting, 1, 'the rest waits for a later turn')
  turns.runOne()
  t.same(told, [0, 1, 2, 3, 4, 5])
  turns.runOne()
  t.same(told, [0, 1, 2, 3, 4, 5, 6])
  t.equal(turns.waiting, 0, 'nothing left to do')
})

t.test('changes that come while one is on its way: every watcher is told each once, in order', async (t) => {
  const turns = laterByHand()
  const fanOut = createFanOut({ chunkSize: 4, later: turns.later })
  const told: Array<Array<string | undefined>> = []
  for (let i = 0; i < 10; i++) {
    const mine: Array<string | undefined> = []
    told.push(mine)
    fanOut.subscribe((event) => { mine.push(statusOf(event)) })
  }
  fanOut.publish(served('NOTPAY'))
  fanOut.publish(served('PICKUPCODE'))
  t.equal(fanOut.publish(served('PICKUPCODE')), false, 'a repeat of the latest, even before it is told to all')
  fanOut.publish(served('SUCCESS'))
  t.same(told.map((events) => events.length), [1, 1, 1, 1, 0, 0, 0, 0, 0, 0], 'one chunk of the first change so far')
  // a newcomer meanwhile is told the latest at once, and nothing older
  const late: Array<string | undefined> = []
  fanOut.subscribe((event) => { late.push(statusOf(event)) })
  t.same(late, ['SUCCESS'])
  while (turns.waiting > 0) turns.runOne()
  for (const events of told) t.same(events, ['NOTPAY', 'PICKUPCODE', 'SUCCESS'])
  t.same(late, ['SUCCESS'], 'the newcomer is in no older round')
})

t.test('a watcher that leaves before its chunk is told nothing; close drops the chunks still to go', async (t) => {
  const turns = laterByHand()
  const fanOut = createFanOut({ chunkSize: 2, later: turns.later })
  const told: string[] = []
  const leaves = ['a', 'b', 'c', 'd', 'e'].map((name) => fanOut.subscribe((event) => { told.push(`${name}:${event.type}`) }))
  fanOut.publish(served('NOTPAY'))
  leaves[2]!()
  turns.runOne()
  t.same(told, ['a:change', 'b:change', 'd:change', 'e:change'], 'c left before its chunk; d and e filled that chunk')
  fanOut.publish(served('SUCCESS'))
  fanOut.close()
  turns.runOne()
  t.same(told.slice(4), ['a:change', 'b:change', 'a:closed', 'b:closed', 'd:closed', 'e:closed'], 'after close, only closed')
})

t.test('between chunks the event loop runs other work (the default later is setImmediate)', async (t) => {
  const fanOut = createFanOut({ chunkSize: 10 })
  let told = 0
  for (let i = 0; i < 100; i++) fanOut.subscribe(() => { told++ })
  let toldWhenTimerRan: number | undefined
  setTimeout(() => { toldWhenTimerRan = told }, 0)
  // let the timer fall due, so it runs in the loop's next timers phase
  const start = Date.now()
  while (Date.now() === start) { /* wait for the clock to tick once */ }
  fanOut.publish(served('NOTPAY'))
  t.equal(told, 10, 'one chunk at once')
  await until(() => told === 100, { what: 'every watcher told' })
  t.ok(toldWhenTimerRan !== undefined && toldWhenTimerRan < 100, `a timer ran before the last chunk (told ${String(toldWhenTimerRan)} by then)`)
})
