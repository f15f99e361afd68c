import t, { type Test } from 'tap'
import { createMetrics } from '../../../src/observability/metrics.js'
import { FAST_PINGS_TO_RECOVER, SLOW_IN_A_ROW, SLOW_LOG_EVERY_MS, watchLatency } from '../../../src/shared-state/redis/latency.js'
import type { RedisLink } from '../../../src/shared-state/redis/link.js'
import { fakeClock } from '../../fixtures/clock.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { startSlowProxy } from '../../fixtures/slow-proxy.js'
import { buildTestApp, captureLogs, until } from '../../helper.js'
import { buildSimulator } from '../../../src/simulator/app.js'
import { TEST_CREDENTIALS } from '../../helper.js'
import { SIGNING_KEY } from './fixtures/trust.js'

const SLOW_MS = 50

/** A link that is up, whose commands and PINGs take as long as the test says, on a fake clock. */
function watched (t: Test) {
  const timers = fakeClock()
  let spent = 0
  let pingMs = 200
  // the clock the round trips are measured on: the fake timers' time, plus what the commands took
  const clock = { now: () => timers.now() + spent, setTimer: timers.setTimer, clearTimer: timers.clearTimer }
  const lines: Array<[string, Record<string, unknown>, string]> = []
  const log = { info: (obj: object, msg: string) => { lines.push(['info', obj as Record<string, unknown>, msg]) }, warn: (obj: object, msg: string) => { lines.push(['warn', obj as Record<string, unknown>, msg]) } }
  const link = {
    isUp: () => true,
    client: { ping: async () => { spent += pingMs; return 'PONG' } },
    onDown: () => {},
    reportFailure: () => {},
    close: async () => {}
  } as unknown as RedisLink
  const slow: boolean[] = []
  const downs: number[] = []
  const timedLink = watchLatency(link, { slowMs: SLOW_MS, log, clock, onSlow: (next) => { slow.push(next) } })
  timedLink.onDown(() => { downs.push(timers.now()) })
  t.teardown(() => timedLink.close())
  const command = async (ms: number) => { await timedLink.timed('get', async () => { spent += ms }) }
  return { link: timedLink, timers, command, lines, slow, downs, setPing: (ms: number) => { pingMs = ms } }
}

t.test('Redis counts as slow after SLOW_IN_A_ROW commands over REDIS_SLOW_MS, not after one', async (t) => {
  const { link, command, lines, slow, downs } = watched(t)
  for (let i = 0; i < 10; i++) {
    await command(200)
    await command(2)
  }
  t.ok(link.isUp(), 'a slow answer now and then is not a slow Redis')
  for (let i = 0; i < SLOW_IN_A_ROW; i++) await command(200)
  t.notOk(link.isUp(), 'the request path stops waiting on it')
  t.ok(link.isSlow())
  t.same(slow, [true])
  t.equal(downs.length, 1, 'waiters are told, as when Redis goes down')
  t.match(lines, [['warn', { redis: 'slow', roundTripMs: 200, slowMs: SLOW_MS }, /slower than REDIS_SLOW_MS/]], 'one warning')
  for (let i = 0; i < 10; i++) await command(200)
  t.equal(lines.length, 1, 'however many slow commands follow')
})

t.test('a PING a second decides when it is fast again: FAST_PINGS_TO_RECOVER in a row under REDIS_SLOW_MS', async (t) => {
  const { link, timers, command, lines, slow, setPing } = watched(t)
  for (let i = 0; i < SLOW_IN_A_ROW; i++) await command(200)
  await timers.advance(5000)
  t.notOk(link.isUp(), 'still slow while the PINGs are')
  setPing(2)
  await timers.advance(1000 * (FAST_PINGS_TO_RECOVER - 1))
  t.notOk(link.isUp(), 'one fast PING is not enough')
  await timers.advance(1000)
  t.ok(link.isUp(), 'shared again')
  t.same(slow, [true, false])
  t.match(lines.map(([level, obj]) => [level, obj.redis]), [['warn', 'slow'], ['info', 'fast']])
  t.equal(timers.pending(), 0, 'no PING while fast')
})

t.test('slow episodes are logged at most once a minute; the next line counts those left out', async (t) => {
  const { timers, command, lines, slow, setPing } = watched(t)
  for (let episode = 0; episode < 4; episode++) {
    setPing(200)
    for (let i = 0; i < SLOW_IN_A_ROW; i++) await command(200)
    setPing(2)
    await timers.advance(1000 * FAST_PINGS_TO_RECOVER)
  }
  t.equal(slow.length, 8, 'four episodes')
  t.match(lines.map(([level, obj]) => [level, obj.redis]), [['warn', 'slow'], ['info', 'fast']], 'the first logged, start and end')
  await timers.advance(SLOW_LOG_EVERY_MS)
  for (let i = 0; i < SLOW_IN_A_ROW; i++) await command(200)
  t.match(lines[2], ['warn', { redis: 'slow', unloggedEpisodes: 3 }])
})

t.test('against a Redis with 200 ms round trips, under REDIS_TIMEOUT_MS', async (t) => {
  if (!requireRedisServer(t)) return
  const redis = await startRedisServer(t)
  // 100 ms each way: every round trip 200 ms
  const proxy = await startSlowProxy(t, redis.port, 100)
  const simulator = buildSimulator({ credentials: TEST_CREDENTIALS })
  t.teardown(() => simulator.close())
  const vendorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 })
  const logs = captureLogs()
  const metrics = createMetrics({ defaultMetrics: false })
  const app = await buildTestApp(t, vendorUrl, {}, { logger: logs.logger, metrics }, {
    // the findings' Redis had 250 ms; more here, so a busy test machine does not make it a timeout instead
    CACHE_ENABLED: 'true', REDIS_URL: proxy.url, REDIS_KEY_PREFIX: 'slow-test:', REDIS_TIMEOUT_MS: '1000', REDIS_SIGNING_KEY: SIGNING_KEY, LOG_LEVEL: 'info'
  })
  t.ok(app.sharedState.isShared(), 'it answers, within the timeout')
  const { Redis } = await import('ioredis')
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  const exposition = async () => await metrics.registry.metrics()

  t.equal((await app.inject({ url: '/orders/1001?machine=16327129' })).statusCode, 200)
  await until(async () => /^redis_slow 1$/m.test(await exposition()), { what: 'redis_slow 1' })
  t.notOk(app.sharedState.isShared(), 'no longer shared: the replica stops waiting on Redis')
  t.match(await exposition(), /^redis_up 0$/m)
  t.match(await exposition(), /^redis_command_duration_seconds_bucket\{le="0.25",command="get"\} 1$/m, 'the round trip measured')

  // the first request's outcome message and lock release follow its answer: let them land
  await until(async () => await raw.exists('slow-test:lock:1001:16327129') === 0, { what: 'the first lock released' })
  await raw.config('RESETSTAT')
  const answers = []
  for (let i = 0; i < 10; i++) answers.push(await app.inject({ url: `/orders/${1001 + (i % 3)}?machine=16327129` }))
  t.same(answers.map((res) => res.statusCode), answers.map(() => 200), 'every request answered')
  t.match(answers.map((res) => res.headers['cache-status']), answers.map(() => /fwd=miss; stored|; hit;/), 'from the vendor or this replica\'s memory')
  const commands = [...(await raw.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g)].map(([, name]) => name).filter((name) => name !== 'info' && name !== 'config')
  t.same([...new Set(commands)].filter((name) => name !== 'ping'), [], `no command of the requests reached Redis (${commands.join(', ') || 'none'})`)
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'readiness stays green: Redis is the whole fleet\'s')
  const warnings = logs.lines().split('\n').filter((line) => line.includes('"redis":"slow"'))
  t.equal(warnings.length, 1, 'one warning')

  proxy.setDelay(0)
  await until(() => app.sharedState.isShared(), { what: 'shared again once Redis is fast' })
  t.match(await exposition(), /^redis_slow 0$/m)
  t.match(logs.lines(), /Redis answers within REDIS_SLOW_MS again/)
})
