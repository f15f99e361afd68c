import t from 'tap'
import { request } from 'undici'
import { buildSimulator } from '../../src/simulator/app.js'
import { MACHINE } from '../../src/simulator/scenarios.js'
import { HEADERS, signedBody, TIMESTAMP } from './fixtures/vendor.js'

t.test('reset and resetMidBody really close the socket', async (t) => {
  const errors: unknown[] = []
  const app = buildSimulator({ faults: { force: 'reset' } })
  app.addHook('onError', async (_request, _reply, error) => { errors.push(error) })
  t.teardown(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const call = async (): Promise<{ status: number, headers: Record<string, unknown>, text: () => Promise<string> }> => {
    const response = await request(`${url}/api/openapi/v1/orders/54`, {
      method: 'POST',
      headers: { ...HEADERS, 'content-type': 'application/json' },
      body: JSON.stringify(signedBody({ machine_no: MACHINE.documented, timestamp: TIMESTAMP }))
    })
    return { status: response.statusCode, headers: response.headers, text: async () => await response.body.text() }
  }

  await t.rejects(call(), { code: /^(ECONNRESET|UND_ERR_SOCKET)$/ }, 'reset: no answer at all')
  await t.rejects(call(), 'reset again: the server survives')

  app.simulator.setFaults({ force: 'resetMidBody' })
  const partial = await call()
  t.equal(partial.status, 200, 'headers arrive')
  t.match(String(partial.headers['content-length']), /^\d+$/)
  await t.rejects(partial.text(), { code: /^(ECONNRESET|UND_ERR_SOCKET)$/ }, 'the body is cut short')

  app.simulator.setFaults({ force: null })
  const healthy = await call()
  t.equal(healthy.status, 200)
  t.equal(JSON.parse(await healthy.text()).code, 0, 'normal service after the faults')

  t.same(app.simulator.stats.faults, { reset: 2, resetMidBody: 1 })
  t.equal(app.simulator.stats.calls, 4)
  t.same(errors, [], 'no errors reached fastify')
})
