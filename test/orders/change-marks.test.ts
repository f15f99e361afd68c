import t from 'tap'
import { createChangeMarks } from '../../src/orders/change-marks.js'

t.test('an outcome stored before the order was said to change is not fresh; one stored after is', async (t) => {
  let now = 1000
  const marks = createChangeMarks({ now: () => now, max: 10, ttlMs: 60_000 })
  t.notOk(marks.changedSince(54, 900), 'nothing said: the keep time rules')
  now = 2000
  marks.mark(54)
  t.ok(marks.changedSince(54, 1500), 'kept from before the word')
  t.ok(marks.changedSince(54, 2000), 'or from the same moment')
  t.notOk(marks.changedSince(54, 2001), 'asked again since')
  t.notOk(marks.changedSince(55, 1500), 'another order is untouched')
  now += 60_001
  t.notOk(marks.changedSince(54, 1500), 'a mark outlives no keep time')
})

t.test('bounded: the oldest mark goes first', async (t) => {
  const marks = createChangeMarks({ now: () => 0, max: 2, ttlMs: 60_000 })
  for (const id of [1, 2, 3]) marks.mark(id)
  t.notOk(marks.changedSince(1, 0))
  t.ok(marks.changedSince(3, 0))
})
