import fastify from 'fastify'
import t from 'tap'
import { drainingPlugin } from '../../src/plugins/draining.js'
import { healthRoutes, isHealthProbe } from '../../src/routes/health.js'

t.test('live and ready answer 200 while running; ready turns 503 once shutdown starts', async (t) => {
  const app = fastify()
  app.decorate('isUnderPressure', () => false)
  await app.register(drainingPlugin)
  await app.register(healthRoutes)
  t.teardown(() => app.close())
  t.same((await app.inject({ url: '/health/live' })).json(), { status: 'ok' })
  t.same((await app.inject({ url: '/health/ready' })).json(), { status: 'ok' })
  app.readiness.ready = false
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { status: 'shutting down' })
  const live = await app.inject({ url: '/health/live' })
  t.equal(live.statusCode, 200, 'still alive while draining')
  t.equal(live.headers.connection, 'close', 'and every answer closes its connection')
})

t.test('ready answers 503 overloaded while the process sheds load; live stays 200', async (t) => {
  const app = fastify()
  let underPressure = true
  app.decorate('isUnderPressure', () => underPressure)
  await app.register(drainingPlugin)
  await app.register(healthRoutes)
  t.teardown(() => app.close())
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { status: 'overloaded' })
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'an overloaded process is still alive')
  underPressure = false
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'ready again once the pressure is gone')
})

t.test('health says what it reads: without readiness or the pressure reading it does not start', async (t) => {
  const app = fastify()
  await t.rejects(async () => { await app.register(healthRoutes) }, /readiness/)
  const withoutPressure = fastify()
  await withoutPressure.register(drainingPlugin)
  await t.rejects(async () => { await withoutPressure.register(healthRoutes) }, /isUnderPressure/)
})

t.test('the probes are told by their path: they stay out of the request log and the traces', async (t) => {
  t.ok(isHealthProbe('/health/live'))
  t.ok(isHealthProbe('/health/ready'))
  t.notOk(isHealthProbe('/orders/54'))
  t.notOk(isHealthProbe('/healthz'))
})
