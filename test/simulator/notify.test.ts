import { once } from 'node:events'
import type { IncomingHttpHeaders } from 'node:http'
import t, { type Test } from 'tap'
import { buildSimulator, type SimulatorOptions } from '../../src/simulator/app.js'
import { REAL_SCHEDULER, type Scheduler } from '../../src/simulator/clock-orders.js'
import { NOTIFY_RETRY_AFTER_MS } from '../../src/simulator/notify.js'
import { FINISHED_AFTER_MS, MACHINE, ORDER, RESTART_AFTER_MS } from '../../src/simulator/scenarios.js'
import { fakeClock } from '../fixtures/clock.js'
import { startUpstream } from '../fixtures/upstream.js'
import { envelopeOf, queryOrder } from './fixtures/vendor.js'

interface Received {
  method: string | undefined
  path: string | undefined
  headers: IncomingHttpHeaders
  body: any
}

/** A notify_url receiver over real HTTP on port 0 (the shared recording upstream), answering `status`. */
async function receiver (t: Test, status = 200) {
  const received: Received[] = []
  const { url, server } = await startUpstream(t, (req, res, body) => {
    received.push({ method: req.method, path: req.url, headers: req.headers, body: JSON.parse(body) })
    res.writeHead(status).end()
  })
  return { received, url: `${url}/callbacks/delivery/the-receivers-secret-token`, server }
}

function setup (t: Test, options: SimulatorOptions = {}) {
  const time = fakeClock()
  const logs: any[] = []
  const app = buildSimulator({
    now: time.now,
    scheduler: time.scheduler,
    logger: { level: 'info', stream: { write: (line: string) => { logs.push(JSON.parse(line)) } } },
    ...options
  })
  t.teardown(() => app.close())
  const status = async (orderId: number): Promise<string[]> =>
    envelopeOf(await queryOrder(app, orderId, MACHINE.documented)).data.records.map((r: any) => r.status ?? '')
  return { app, time, logs, status }
}

t.test('a clock order that finishes sends one device.delivery.response per line, polled or not', async (t) => {
  const { received, url } = await receiver(t)
  const { app, time, status } = setup(t, { notifyUrl: url })

  t.same(await status(ORDER.progressingSuccess), ['', ''], 'the run starts')
  await time.advance(FINISHED_AFTER_MS - 1)
  t.equal(received.length, 0, 'nothing before the line finishes')

  // nobody asks in between: the timer set when the run started sends them
  await time.advance(1)
  t.same(received.map((r) => r.body).sort((a, b) => a.record_id - b.record_id), [
    { method: 'device.delivery.response', order_id: 2001, record_id: 20011, deliver_status: '1', floor_status: '1', error_msg: '' },
    { method: 'device.delivery.response', order_id: 2001, record_id: 20012, deliver_status: '1', floor_status: '1', error_msg: '' }
  ])
  for (const request of received) {
    t.equal(request.method, 'POST')
    t.equal(request.path, '/callbacks/delivery/the-receivers-secret-token')
    t.match(request.headers['content-type'], /^application\/json/)
    t.notOk('machine_no' in request.body, 'the vendor names no machine')
  }
  t.same(await status(ORDER.progressingSuccess), ['IS_SUCCESS', 'IS_SUCCESS'], 'the order the notification points at is final')
  t.same(app.simulator.stats.notifications, { sent: 2, failed: 0 })

  // final, asked again and again: no more notifications for this run
  await time.advance(RESTART_AFTER_MS - 1)
  t.same(await status(ORDER.progressingSuccess), ['IS_SUCCESS', 'IS_SUCCESS'])
  t.equal(received.length, 2, 'once per line per run')

  // final for RESTART_AFTER_MS: the run is forgotten, and the receiver told, so that it asks again
  await time.advance(1)
  t.same(received.slice(2).map((r) => r.body), [{ method: 'simulator.order.restarted', order_id: 2001 }])
  t.equal(received[2]!.path, '/callbacks/delivery/the-receivers-secret-token')
  t.equal(time.pending(), 0, 'nothing runs until someone asks')
  await time.advance(FINISHED_AFTER_MS)
  t.equal(received.length, 3, 'nobody asked: no run, no notification')

  // the next run sends its own
  t.same(await status(ORDER.progressingSuccess), ['', ''], 'a new run')
  await time.advance(FINISHED_AFTER_MS)
  t.equal(received.length, 5)
  t.same(app.simulator.stats.notifications, { sent: 5, failed: 0 })
})

t.test('failed and timed-out lines are reported as failures, with the slot state and the reason', async (t) => {
  const { received, url } = await receiver(t)
  const { time, status } = setup(t, { notifyUrl: url })
  await status(ORDER.progressingFailed)
  await time.advance(1000)
  await status(ORDER.progressingTimeout)
  await time.advance(FINISHED_AFTER_MS - 1000)
  t.same(received.map((r) => r.body).sort((a, b) => a.record_id - b.record_id), [
    { method: 'device.delivery.response', order_id: 2002, record_id: 20021, deliver_status: '0', floor_status: '3', error_msg: 'Slave Comm Error' },
    { method: 'device.delivery.response', order_id: 2002, record_id: 20022, deliver_status: '0', floor_status: '3', error_msg: 'Slave Comm Error' }
  ], '2002 fails first, alone')
  await time.advance(1000)
  t.same(received.slice(2).map((r) => r.body).sort((a, b) => a.record_id - b.record_id), [
    { method: 'device.delivery.response', order_id: 2003, record_id: 20031, deliver_status: '0', floor_status: '47', error_msg: 'Serial Timeout' },
    { method: 'device.delivery.response', order_id: 2003, record_id: 20032, deliver_status: '0', floor_status: '47', error_msg: 'Serial Timeout' }
  ])
})

t.test('without a notify URL nothing is sent; one set later, before the line finishes, is used', async (t) => {
  const { received, url } = await receiver(t)
  const { app, time, status } = setup(t)
  t.equal(app.simulator.notifyUrl, undefined)

  await status(ORDER.progressingSuccess)
  await time.advance(FINISHED_AFTER_MS)
  t.same(await status(ORDER.progressingSuccess), ['IS_SUCCESS', 'IS_SUCCESS'])
  t.equal(received.length, 0)
  t.same(app.simulator.stats.notifications, { sent: 0, failed: 0 })

  // as demo mode does: the receiver's address is known only once it listens
  await status(ORDER.progressingFailed)
  app.simulator.setNotifyUrl(url)
  t.equal(app.simulator.notifyUrl, url)
  await time.advance(FINISHED_AFTER_MS)
  t.same(received.map((r) => [r.body.method, r.body.order_id]), [
    ['simulator.order.restarted', 2001],
    ['device.delivery.response', 2002],
    ['device.delivery.response', 2002]
  ], '2001\'s restart, then 2002\'s lines')

  app.simulator.setNotifyUrl(undefined)
  await status(ORDER.progressingTimeout)
  await time.advance(FINISHED_AFTER_MS)
  t.equal(received.length, 3, 'and unset again: neither 2002\'s restart nor 2003\'s lines')

  t.throws(() => app.simulator.setNotifyUrl('ftp://example.com/'), TypeError)
  t.throws(() => app.simulator.setNotifyUrl('not a url'), TypeError)
  t.throws(() => buildSimulator({ notifyUrl: 'file:///etc/passwd' }), TypeError)
})

t.test('a receiver that is down costs one retry and a warning, never the simulator', async (t) => {
  const { server, url } = await receiver(t)
  server.close()
  await once(server, 'close')
  const { app, time, logs, status } = setup(t, { notifyUrl: url })

  await status(ORDER.progressingSuccess)
  await time.advance(FINISHED_AFTER_MS)
  t.same(app.simulator.stats.notifications, { sent: 0, failed: 0 }, 'first attempts failed, retries pending')
  await time.advance(NOTIFY_RETRY_AFTER_MS)
  t.same(app.simulator.stats.notifications, { sent: 0, failed: 2 }, 'each line retried once, then dropped')
  // the restart's notice fails too (its retry is set once the refused attempt is over)
  await time.advance(RESTART_AFTER_MS)
  await time.advance(NOTIFY_RETRY_AFTER_MS)
  t.same(app.simulator.stats.notifications, { sent: 0, failed: 3 }, 'and the restart\'s, retried once too')
  await time.advance(10 * NOTIFY_RETRY_AFTER_MS)
  t.equal(time.pending(), 0, 'no further retries')

  const warnings = logs.filter((line) => line.level === 40)
  t.equal(warnings.length, 6, 'a warning per failed attempt')
  t.match(warnings[0], { orderId: 2001, attempt: 1, reason: 'ECONNREFUSED', notify: new URL(url).origin })
  t.notMatch(JSON.stringify(logs), /the-receivers-secret-token/, 'the notify URL\'s path, which may hold a token, is never logged')
  t.same(await status(ORDER.progressingSuccess), ['', ''], 'still answering: a new run')
})

t.test('a receiver that answers an error is retried once per line, then left alone', async (t) => {
  const { received, url } = await receiver(t, 500)
  const { app, time, status } = setup(t, { notifyUrl: url })
  await status(ORDER.progressingFailed)
  await time.advance(FINISHED_AFTER_MS)
  t.equal(received.length, 2)
  await time.advance(NOTIFY_RETRY_AFTER_MS)
  t.equal(received.length, 4, 'one retry each')
  await time.advance(RESTART_AFTER_MS)
  t.equal(received.length, 5, 'the restart\'s notice')
  await time.advance(NOTIFY_RETRY_AFTER_MS)
  t.equal(received.length, 6, 'retried once too')
  await time.advance(10 * RESTART_AFTER_MS)
  t.equal(received.length, 6)
  t.same(app.simulator.stats.notifications, { sent: 0, failed: 3 })
})

t.test('closing the app cancels pending runs and retries', async (t) => {
  const { server, url } = await receiver(t)
  server.close()
  await once(server, 'close')
  const { app, time, status } = setup(t, { notifyUrl: url })
  await status(ORDER.progressingSuccess)
  await time.advance(FINISHED_AFTER_MS)
  await status(ORDER.progressingFailed)
  t.equal(time.pending(), 4, 'two retries, a restart and a run')
  await app.close()
  t.equal(time.pending(), 0)
})

t.test('a timer that fires a little early does not send before the order is final', async (t) => {
  const { received, url } = await receiver(t)
  const time = fakeClock()
  const early: Scheduler = { ...time.scheduler, setTimeout: (fn, ms) => time.scheduler.setTimeout(fn, ms > 100 ? ms - 5 : ms) }
  const app = buildSimulator({ now: time.now, scheduler: early, notifyUrl: url })
  t.teardown(() => app.close())
  await queryOrder(app, ORDER.progressingSuccess, MACHINE.documented)
  await time.advance(FINISHED_AFTER_MS - 1)
  t.equal(received.length, 0, 'the early timer set another for what was left')
  await time.advance(1)
  t.equal(received.length, 2)
})

t.test('the real timers do not keep the process alive', async (t) => {
  const handle = REAL_SCHEDULER.setTimeout(() => {}, 60_000) as NodeJS.Timeout
  t.teardown(() => REAL_SCHEDULER.clearTimeout(handle))
  t.equal(handle.hasRef(), false)
})
