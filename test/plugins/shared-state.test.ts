import fastify, { type FastifyBaseLogger } from 'fastify'
import t from 'tap'
import { loadConfig } from '../../src/config/config.js'
import { createMetrics } from '../../src/observability/metrics.js'
import { sharedStatePlugin } from '../../src/plugins/shared-state.js'
import { requireRedisServer, startRedisServer } from '../fixtures/redis-server.js'
import { captureLogs, until } from '../helper.js'

t.test('without REDIS_URL: app.sharedState in memory, and no redis_up', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false })
  const app = fastify()
  t.teardown(() => app.close())
  await app.register(sharedStatePlugin, { config: loadConfig({}), metrics })
  t.equal(app.sharedState.isShared(), false)
  t.notMatch(await metrics.registry.metrics(), /redis_/, 'no redis_* series')
})

t.test('with REDIS_URL: redis_up follows Redis, closing the app closes the link, and the app starts without Redis', async (t) => {
  if (!requireRedisServer(t)) return
  const redis = await startRedisServer(t)
  const { Redis } = await import('ioredis')
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  const connections = async () => String(await raw.call('CLIENT', 'LIST')).trim().split('\n').length
  const config = loadConfig({ REDIS_URL: redis.url })

  const closed = fastify()
  await closed.register(sharedStatePlugin, { config })
  t.equal(await connections(), 3, 'its command and subscriber connections, and the test\'s')
  await closed.close()
  await until(async () => await connections() === 1)

  const logs = captureLogs()
  const metrics = createMetrics({ defaultMetrics: false })
  const app = fastify({ loggerInstance: logs.logger as FastifyBaseLogger })
  t.teardown(() => app.close())
  await app.register(sharedStatePlugin, { config, metrics })
  t.ok(app.sharedState.isShared())
  t.match(await metrics.registry.metrics(), /^redis_up 1$/m)
  t.match(await metrics.registry.metrics(), /^redis_slow 0$/m)
  t.match(await metrics.registry.metrics(), /^redis_rejected_total\{reason="signature"\} 0$/m, 'every reason from the start, at 0')
  await raw.set('vending-bff:outcome:54:16327129', '{"forged":true}')
  t.equal(await app.sharedState.outcomeStore.get('54:16327129'), undefined)
  t.match(await metrics.registry.metrics(), /^redis_rejected_total\{reason="signature"\} 1$/m, 'a forged value counted')
  t.match(await metrics.registry.metrics(), /^redis_command_duration_seconds_count\{command="get"\} 1$/m, 'its GET timed')
  raw.disconnect()
  await redis.kill()
  await until(() => !app.sharedState.isShared())
  t.match(await metrics.registry.metrics(), /^redis_up 0$/m)
  t.match(logs.lines(), /"component":"redis"/, 'the link logs as the redis component')

  const late = fastify({ loggerInstance: logs.logger as FastifyBaseLogger })
  t.teardown(() => late.close())
  await late.register(sharedStatePlugin, { config })
  t.notOk(late.sharedState.isShared(), 'registered while Redis is gone')
  t.match(logs.lines(), /Redis not reachable at start/)
})
