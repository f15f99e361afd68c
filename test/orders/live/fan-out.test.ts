import t from 'tap'
import { createFanOut, type WatchEvent } from '../../../src/orders/live/fan-out.js'
import type { Order } from '../../../src/orders/schema.js'
import type { Served } from '../../../src/orders/outcome.js'
import { outcomeTag } from '../../../src/orders/live/predicates.js'
import { order } from '../fixtures/read-through.js'

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
