import fastify from 'fastify'
import t from 'tap'
import { drainingPlugin } from '../../src/plugins/draining.js'
import { buildTestApp } from '../helper.js'

t.test('closing the app marks it not ready', async (t) => {
  const app = fastify()
  await app.register(drainingPlugin)
  await app.ready()
  await app.close()
  t.equal(app.readiness.ready, false)
})

t.test('while draining every answer closes its connection: orders, docs, unknown paths and health alike', async (t) => {
  const app = await buildTestApp(t, 'http://127.0.0.1:9')
  t.not((await app.inject({ url: '/docs/json' })).headers.connection, 'close', 'not before')
  app.readiness.ready = false
  for (const url of ['/orders/007?machine=1', '/docs/json', '/docs/', '/nope', '/health/live']) {
    t.equal((await app.inject({ url })).headers.connection, 'close', url)
  }
})
