import t from 'tap'
import { createUnknownValueLog } from '../../src/orders/unknown-values.js'

function setup (options: { maxPerMinute?: number, remembered?: number } = {}) {
  let now = 0
  const warnings: Array<{ obj: Record<string, unknown>, msg: string }> = []
  const log = { info () {}, error () {}, warn: (obj: object, msg: string) => { warnings.push({ obj: obj as Record<string, unknown>, msg }) } }
  const report = createUnknownValueLog({ now: () => now, ...options })
  return { warnings, report: (field: string, value: string) => { report(log, field, value, 7) }, tick: (ms: number) => { now += ms } }
}

t.test('a new value is news once', async (t) => {
  const { warnings, report } = setup()
  report('status', 'NEW_STATUS')
  report('status', 'NEW_STATUS')
  report('records[].status', 'NEW_STATUS')
  t.same(warnings.map((w) => w.obj), [
    { field: 'status', value: 'NEW_STATUS', orderId: 7 },
    { field: 'records[].status', value: 'NEW_STATUS', orderId: 7 }
  ], 'once per field and value')
})

t.test('a flood of distinct values: a few lines a minute, then one line saying how many were left out', async (t) => {
  const { warnings, report, tick } = setup({ maxPerMinute: 3 })
  for (let i = 0; i < 10; i++) report('status', `V${i}`)
  t.equal(warnings.length, 3)
  tick(60_000)
  report('status', 'V3')
  t.equal(warnings[3]?.obj.suppressed, 7, 'the minute\'s suppressed warnings summed up')
  t.equal(warnings[4]?.obj.value, 'V3', 'a value left out earlier is still news in a later minute')
})

t.test('a huge value is cut to a readable length, and news once', async (t) => {
  const { warnings, report } = setup()
  report('status', 'X'.repeat(100_000))
  report('status', 'X'.repeat(100_000))
  t.equal(warnings.length, 1)
  t.equal(warnings[0]?.obj.value, `${'X'.repeat(200)}…(100000 chars)`)
})
