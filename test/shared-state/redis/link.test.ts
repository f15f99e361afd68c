import t from 'tap'
import { createRedisLink } from '../../../src/shared-state/redis/link.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { until } from '../../helper.js'

t.test('the Redis link', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('each change of state is logged once and reported; commands are prefixed; a lost Redis is noticed back', async (t) => {
    const redis = await startRedisServer(t)
    const lines: Array<[string, object, string]> = []
    const states: boolean[] = []
    const log = { info: (obj: object, msg: string) => { lines.push(['info', obj, msg]) }, warn: (obj: object, msg: string) => { lines.push(['warn', obj, msg]) } }
    const link = createRedisLink({ url: redis.url, keyPrefix: 'link-test:', commandTimeoutMs: 200 }, log, (up) => { states.push(up) })
    t.teardown(() => link.close())
    await link.connect()
    t.ok(link.isUp())
    await link.client.set('k', 'v')
    const { Redis } = await import('ioredis')
    const raw = new Redis(redis.url)
    t.equal(await raw.get('link-test:k'), 'v', 'the key is under the prefix')
    raw.disconnect()

    const down = new Promise<void>((resolve) => { link.onDown(resolve) })
    await redis.kill()
    await down
    for (let i = 0; i < 5; i++) await link.client.get('k').catch((error: unknown) => { link.reportFailure(error) })
    t.notOk(link.isUp())
    t.equal(lines.filter(([level]) => level === 'warn').length, 1, 'one warning however many commands fail')

    await redis.restart()
    // the link checks every second; the test's timeout bounds the wait
    await until(() => link.isUp())
    t.ok(link.isUp(), 'back without a restart')
    t.same(states, [true, false, true])
    t.same(lines.map(([level]) => level), ['info', 'warn', 'info'])
    t.notOk(JSON.stringify(lines).includes(redis.url), 'the URL is not logged')
  })
})
