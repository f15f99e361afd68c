import t from 'tap'
import { buildSimulator } from '../../src/simulator/app.js'
import { MACHINE } from '../../src/simulator/scenarios.js'
import { queryOrder } from './fixtures/vendor.js'

t.test('stats count every call, rejected ones included', async (t) => {
  const app = buildSimulator()
  t.teardown(() => app.close())
  await queryOrder(app, 54, MACHINE.documented)
  await queryOrder(app, 54, MACHINE.documented, { headers: {} })
  await queryOrder(app, 99999, MACHINE.unknown)
  await queryOrder(app, 'abc', MACHINE.documented, { payload: 'not json' })
  await app.inject({ method: 'POST', url: '/api/openapi/v1/orders/54', headers: { 'content-type': 'application/json' }, payload: 'x'.repeat(2 * 1024 * 1024) })
  const response = await app.inject({ method: 'GET', url: '/_simulator/stats' })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { calls: 5, byOrder: { 54: 3, 99999: 1, abc: 1 }, faults: {}, notifications: { sent: 0, failed: 0 } })
  t.same(app.simulator.stats, response.json())

  const stats = app.simulator.stats
  app.simulator.resetStats()
  t.same(stats, { calls: 0, byOrder: {}, faults: {}, notifications: { sent: 0, failed: 0 } }, 'reset in place: held references stay live')
  await app.inject({ method: 'GET', url: '/health' })
  await app.inject({ method: 'GET', url: '/_simulator/stats' })
  t.equal(stats.calls, 0, 'health and admin routes are not vendor calls')
})

t.test('PUT /_simulator/faults validates and applies', async (t) => {
  const app = buildSimulator({ faults: { latencyMs: 5 } })
  t.teardown(() => app.close())
  const put = async (payload: unknown): Promise<{ statusCode: number, json: () => any }> =>
    await app.inject({ method: 'PUT', url: '/_simulator/faults', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) })

  const ok = await put({ force: 'html502', rates: { reset: 0.2 } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { latencyMs: 5, slowMs: 10_000, rates: { reset: 0.2 }, force: 'html502' })
  t.equal((await queryOrder(app, 54, MACHINE.documented)).statusCode, 502, 'applied')
  t.same((await app.inject({ method: 'GET', url: '/_simulator/faults' })).json(), ok.json())

  const forced = await put({ force: { code: 4008, httpStatus: 200 } })
  t.equal(forced.statusCode, 200)
  t.same(app.simulator.faults.force, { code: 4008, httpStatus: 200 })

  const bad: unknown[] = [
    { latencyMs: -1 },
    { latencyMs: 'slow' },
    { slowMs: 1.5 },
    { rates: { reset: 2 } },
    { rates: { meteor: 0.1 } },
    { force: 'meteor' },
    { force: { httpStatus: 500 } },
    { force: { code: 1, httpStatus: 99 } },
    { random: 0.5 },
    { unknown: true },
    [1, 2],
    'text',
    null
  ]
  for (const payload of bad) {
    const response = await put(payload)
    t.equal(response.statusCode, 400, JSON.stringify(payload))
  }
  t.match((await put({ latencyMs: -1 })).json(), { error: 'invalid faults', issues: [{ path: 'latencyMs' }] })
  const noBody = await app.inject({ method: 'PUT', url: '/_simulator/faults' })
  t.equal(noBody.statusCode, 400)
  const badJson = await app.inject({ method: 'PUT', url: '/_simulator/faults', headers: { 'content-type': 'application/json' }, payload: '{' })
  t.equal(badJson.statusCode, 400)
  t.same(app.simulator.faults.force, { code: 4008, httpStatus: 200 }, 'bad input changed nothing')
})

t.test('POST /_simulator/reset restores the built faults and zeroes stats', async (t) => {
  const app = buildSimulator({ faults: { latencyMs: 1 } })
  t.teardown(() => app.close())
  app.simulator.setFaults({ force: 'garbage', latencyMs: 0 })
  await queryOrder(app, 54, MACHINE.documented)
  const response = await app.inject({ method: 'POST', url: '/_simulator/reset' })
  t.equal(response.statusCode, 204)
  t.same(app.simulator.stats, { calls: 0, byOrder: {}, faults: {}, notifications: { sent: 0, failed: 0 } })
  t.same((await app.inject({ method: 'GET', url: '/_simulator/faults' })).json(), { latencyMs: 1, slowMs: 10_000, rates: {}, force: null })
})

t.test('admin: false hides the control routes, not the vendor or health', async (t) => {
  const app = buildSimulator({ admin: false })
  t.teardown(() => app.close())
  t.equal((await app.inject({ method: 'GET', url: '/_simulator/stats' })).statusCode, 404)
  t.equal((await app.inject({ method: 'PUT', url: '/_simulator/faults', payload: {} })).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: '/_simulator/reset' })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200)
  t.equal((await queryOrder(app, 54, MACHINE.documented)).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/nowhere' })).statusCode, 404)
})
