import t from 'tap'
import { buildSimulator } from '../../src/simulator/app.js'
import { HUGE_MIN_BYTES } from '../../src/simulator/fault-replies.js'
import { pickFault, DEFAULT_FAULTS } from '../../src/simulator/faults.js'
import { MACHINE } from '../../src/simulator/scenarios.js'
import { until } from '../fixtures/until.js'
import { envelopeOf, HEADERS, queryOrder } from './fixtures/vendor.js'

t.test('a forced error envelope', async (t) => {
  const app = buildSimulator({ faults: { force: { code: 30002 } } })
  t.teardown(() => app.close())
  const response = await queryOrder(app, 54, MACHINE.documented)
  t.equal(response.statusCode, 200)
  t.same(envelopeOf(response), { code: 30002, message: 'machine offline', data: {} })

  app.simulator.setFaults({ force: { code: 12345, httpStatus: 503, message: 'maintenance' } })
  const custom = await queryOrder(app, 54, MACHINE.documented, { headers: {} })
  t.equal(custom.statusCode, 503, 'faults come before the credential check')
  t.same(envelopeOf(custom), { code: 12345, message: 'maintenance', data: {} })
  t.same(app.simulator.stats.faults, { error: 2 })
})

t.test('garbage, html502 and huge answers', async (t) => {
  const app = buildSimulator({ faults: { force: 'garbage' } })
  t.teardown(() => app.close())

  const garbage = await queryOrder(app, 54, MACHINE.documented)
  t.equal(garbage.statusCode, 200)
  t.match(garbage.headers['content-type'], /^text\/plain/)
  t.throws(() => JSON.parse(garbage.body))

  app.simulator.setFaults({ force: 'html502' })
  const html = await queryOrder(app, 54, MACHINE.documented)
  t.equal(html.statusCode, 502)
  t.match(html.headers['content-type'], /^text\/html/)
  t.match(html.body, /<title>502 Bad Gateway<\/title>/)

  app.simulator.setFaults({ force: 'huge' })
  const huge = await queryOrder(app, 54, MACHINE.documented)
  t.equal(huge.statusCode, 200)
  t.ok(huge.rawPayload.length >= HUGE_MIN_BYTES, `${huge.rawPayload.length} bytes`)
  t.ok(huge.rawPayload.length < HUGE_MIN_BYTES * 1.5)
  const body = envelopeOf(huge)
  t.equal(body.code, 0)
  t.equal(body.data.order_id, 54)

  t.same(app.simulator.stats.faults, { garbage: 1, html502: 1, huge: 1 })
  t.equal(app.simulator.stats.calls, 3)
})

t.test('latency delays every answer; slow delays by slowMs and then answers properly', async (t) => {
  const app = buildSimulator({ faults: { latencyMs: 120 } })
  t.teardown(() => app.close())
  let started = performance.now()
  const delayed = await queryOrder(app, 54, MACHINE.documented)
  t.ok(performance.now() - started >= 110, 'latency applied')
  t.equal(envelopeOf(delayed).code, 0)
  started = performance.now()
  await queryOrder(app, 54, MACHINE.documented, { headers: {} })
  t.ok(performance.now() - started >= 110, 'rejected calls are delayed too')

  app.simulator.setFaults({ latencyMs: 0, slowMs: 150, force: 'slow' })
  started = performance.now()
  const slow = await queryOrder(app, 54, MACHINE.documented)
  t.ok(performance.now() - started >= 140, 'slow fault applied')
  t.equal(envelopeOf(slow).code, 0, 'a slow answer is still the right answer')
  t.same(app.simulator.stats.faults, { slow: 1 })
})

t.test('closing the app cuts pending delays short', async (t) => {
  const app = buildSimulator({ faults: { force: 'slow', slowMs: 60_000 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const pending = fetch(`http://127.0.0.1:${port}/api/openapi/v1/orders/54`, { method: 'POST', headers: HEADERS, body: '{}' })
    .then((r) => r.status, () => 'failed')
  // wait until the request is at the simulator (counted before its delay starts), not a guessed time
  await until(() => app.simulator.stats.calls === 1, { what: 'the request at the simulator' })
  const started = performance.now()
  await app.close()
  t.ok(performance.now() - started < 5_000, 'close did not wait for the slow fault')
  t.equal(await pending, 200, 'the request in flight is answered, its delay cut short')
})

t.test('rates pick faults with one random draw per request', async (t) => {
  const draws = [0.05, 0.15, 0.25, 0.95]
  let drawn = 0
  const app = buildSimulator({
    faults: { rates: { garbage: 0.1, html502: 0.1, huge: 0 }, random: () => draws[drawn++] ?? 0.99 }
  })
  t.teardown(() => app.close())
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await queryOrder(app, 54, MACHINE.documented)).statusCode)
  t.same(statuses, [200, 502, 200, 200])
  t.same(app.simulator.stats.faults, { garbage: 1, html502: 1 })
  t.equal(drawn, 4, 'exactly one draw per request')
})

t.test('pickFault', async (t) => {
  const faults = { ...DEFAULT_FAULTS, random: () => { throw new Error('no draw expected') } }
  t.equal(pickFault(faults), null, 'no rates: no draw, no fault')
  t.equal(pickFault({ ...faults, rates: { reset: 0 } }), null)
  t.equal(pickFault({ ...faults, force: 'reset' }), 'reset')
  const at = (draw: number): unknown => pickFault({ ...faults, rates: { reset: 0.2, slow: 0.1 }, random: () => draw })
  t.equal(at(0), 'reset')
  t.equal(at(0.19), 'reset')
  t.equal(at(0.2), 'slow')
  t.equal(at(0.29), 'slow')
  t.equal(at(0.31), null)
})
