import t from 'tap'
import { buildSimulator } from '../../src/simulator/app.js'
import { DISPENSING_AFTER_MS, FINISHED_AFTER_MS, MACHINE, ORDER, PAID_AFTER_MS } from '../../src/simulator/scenarios.js'
import { envelopeOf, queryOrder } from './fixtures/vendor.js'

t.test('progressing orders follow the clock through every phase', async (t) => {
  let clock = 1_700_000_000_000
  const app = buildSimulator({ now: () => clock })
  t.teardown(() => app.close())
  const start = clock

  const snapshot = async (orderId: number): Promise<any> =>
    envelopeOf(await queryOrder(app, orderId, MACHINE.documented)).data

  const cases: Array<[number, string]> = [
    [ORDER.progressingSuccess, 'IS_SUCCESS'],
    [ORDER.progressingFailed, 'IS_FAILED'],
    [ORDER.progressingTimeout, 'IS_TIMEOUT']
  ]
  for (const [orderId, last] of cases) {
    clock = start
    const unpaid = await snapshot(orderId)
    t.equal(unpaid.status, 'NOTPAY', `${orderId} starts unpaid`)
    t.notOk('notify_send_count' in unpaid)
    t.same(unpaid.records.map((r: any) => 'status' in r), [false, false], 'no line status while unpaid')

    clock = start + PAID_AFTER_MS - 1
    t.equal((await snapshot(orderId)).status, 'NOTPAY', 'still unpaid just before the boundary')

    clock = start + PAID_AFTER_MS
    const paid = await snapshot(orderId)
    t.equal(paid.status, 'SUCCESS')
    t.same(paid.records.map((r: any) => [r.status, r.notify_sent]), [['WAITING_PICKED_UP', '0'], ['WAITING_PICKED_UP', '0']])

    clock = start + DISPENSING_AFTER_MS
    const dispensing = await snapshot(orderId)
    t.same(dispensing.records.map((r: any) => r.status), ['IS_DELIVERING', 'IS_DELIVERING'])
    t.equal(dispensing.notify_send_count, 1)

    clock = start + FINISHED_AFTER_MS
    const done = await snapshot(orderId)
    t.same(done.records.map((r: any) => [r.status, r.notify_sent]), [[last, '1'], [last, '1']], `${orderId} ends ${last}`)
    t.equal(done.notify_send_count, 2)
  }
})
