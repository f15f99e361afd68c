import t, { type Test } from 'tap'
import { buildSimulator } from '../../src/simulator/app.js'
import { DISPENSING_AFTER_MS, FINISHED_AFTER_MS, MACHINE, ORDER, PAID_AFTER_MS, RESTART_AFTER_MS } from '../../src/simulator/scenarios.js'
import { fakeClock } from '../fixtures/clock.js'
import { envelopeOf, HEADERS, queryOrder } from './fixtures/vendor.js'

function setup (t: Test) {
  const time = fakeClock()
  const app = buildSimulator({ now: time.now, scheduler: time.scheduler })
  t.teardown(() => app.close())
  const snapshot = async (orderId: number): Promise<any> => envelopeOf(await queryOrder(app, orderId, MACHINE.documented)).data
  const phase = async (orderId: number): Promise<string> => {
    const data = await snapshot(orderId)
    return `${data.status}/${data.records[0].status ?? ''}`
  }
  return { app, time, snapshot, phase }
}

t.test('clock orders follow the clock through every phase, from the first time they are asked for', async (t) => {
  const { time, snapshot } = setup(t)
  const cases: Array<[number, string]> = [
    [ORDER.progressingSuccess, 'IS_SUCCESS'],
    [ORDER.progressingFailed, 'IS_FAILED'],
    [ORDER.progressingTimeout, 'IS_TIMEOUT']
  ]
  for (const [orderId, last] of cases) {
    // long after the simulator started, and after the previous order's run: this order has not begun
    await time.advance(10 * 60_000)
    const start = time.now()
    const unpaid = await snapshot(orderId)
    t.equal(unpaid.status, 'NOTPAY', `${orderId} starts unpaid when first asked for`)
    t.notOk('notify_send_count' in unpaid)
    t.same(unpaid.records.map((r: any) => 'status' in r), [false, false], 'no line status while unpaid')

    await time.advance(start + PAID_AFTER_MS - 1 - time.now())
    t.equal((await snapshot(orderId)).status, 'NOTPAY', 'still unpaid just before the boundary')

    await time.advance(1)
    const paid = await snapshot(orderId)
    t.equal(paid.status, 'SUCCESS')
    t.same(paid.records.map((r: any) => [r.status, r.notify_sent]), [['WAITING_PICKED_UP', '0'], ['WAITING_PICKED_UP', '0']])

    await time.advance(start + DISPENSING_AFTER_MS - time.now())
    const dispensing = await snapshot(orderId)
    t.same(dispensing.records.map((r: any) => r.status), ['IS_DELIVERING', 'IS_DELIVERING'])
    t.equal(dispensing.notify_send_count, 1)

    await time.advance(start + FINISHED_AFTER_MS - time.now())
    const done = await snapshot(orderId)
    t.same(done.records.map((r: any) => [r.status, r.notify_sent]), [[last, '1'], [last, '1']], `${orderId} ends ${last}`)
    t.equal(done.notify_send_count, 2)
  }
})

t.test('a run lasts 10 to 20 s: long enough to see each phase, short enough to watch whole', async (t) => {
  t.ok(PAID_AFTER_MS >= 2_000 && DISPENSING_AFTER_MS - PAID_AFTER_MS >= 2_000 && FINISHED_AFTER_MS - DISPENSING_AFTER_MS >= 2_000)
  t.ok(FINISHED_AFTER_MS >= 10_000 && FINISHED_AFTER_MS <= 20_000)
})

t.test('each clock order has its own run', async (t) => {
  const { time, phase } = setup(t)
  t.equal(await phase(ORDER.progressingSuccess), 'NOTPAY/')
  await time.advance(DISPENSING_AFTER_MS)
  t.equal(await phase(ORDER.progressingFailed), 'NOTPAY/', '2002 starts when it is asked for, not with 2001')
  t.equal(await phase(ORDER.progressingSuccess), 'SUCCESS/IS_DELIVERING')
  await time.advance(FINISHED_AFTER_MS - DISPENSING_AFTER_MS)
  t.equal(await phase(ORDER.progressingSuccess), 'SUCCESS/IS_SUCCESS')
  await time.advance(DISPENSING_AFTER_MS - 1)
  t.equal(await phase(ORDER.progressingFailed), 'SUCCESS/IS_DELIVERING', '2002 is final a full run after its own start')
  await time.advance(1)
  t.equal(await phase(ORDER.progressingFailed), 'SUCCESS/IS_FAILED')
})

t.test('once final for the restart delay, the next question starts the run again', async (t) => {
  const { time, phase } = setup(t)
  const orderId = ORDER.progressingFailed
  t.equal(await phase(orderId), 'NOTPAY/')
  await time.advance(FINISHED_AFTER_MS + RESTART_AFTER_MS - 1)
  t.equal(await phase(orderId), 'SUCCESS/IS_FAILED', 'still final just before the restart delay has passed')
  await time.advance(1)
  t.equal(await phase(orderId), 'NOTPAY/', 'a new run')
  await time.advance(PAID_AFTER_MS)
  t.equal(await phase(orderId), 'SUCCESS/WAITING_PICKED_UP', 'and it progresses again from its own start')
  await time.advance(FINISHED_AFTER_MS - PAID_AFTER_MS)
  t.equal(await phase(orderId), 'SUCCESS/IS_FAILED')

  // nobody asking: the order stays final however long it waits, and restarts at the next question
  await time.advance(60 * 60_000)
  t.equal(await phase(orderId), 'NOTPAY/')
})

t.test('only an answered question starts a run: wrong machine, credentials or payload do not', async (t) => {
  const { app, time, phase } = setup(t)
  const orderId = ORDER.progressingSuccess
  t.equal(envelopeOf(await queryOrder(app, orderId, MACHINE.other)).code, 6007)
  t.equal((await queryOrder(app, orderId, MACHINE.documented, { headers: { ...HEADERS, appsecret: 'wrong' } })).statusCode, 401)
  t.equal(envelopeOf(await queryOrder(app, orderId, MACHINE.documented, { payload: 'not json' })).code, 4003)
  await time.advance(DISPENSING_AFTER_MS)
  t.equal(await phase(orderId), 'NOTPAY/', 'the run starts now')
  t.equal(time.pending(), 1, 'one run, one timer for its end')
})

t.test('POST /_simulator/reset forgets the runs; close cancels their timers', async (t) => {
  const { app, time, phase } = setup(t)
  t.equal(await phase(ORDER.progressingSuccess), 'NOTPAY/')
  t.equal(await phase(ORDER.progressingTimeout), 'NOTPAY/')
  await time.advance(FINISHED_AFTER_MS)
  t.equal(await phase(ORDER.progressingSuccess), 'SUCCESS/IS_SUCCESS')
  t.equal((await app.inject({ method: 'POST', url: '/_simulator/reset' })).statusCode, 204)
  t.equal(await phase(ORDER.progressingSuccess), 'NOTPAY/', 'started again after the reset')
  t.equal(time.pending(), 1)
  await app.close()
  t.equal(time.pending(), 0, 'no timer outlives the app')
})
