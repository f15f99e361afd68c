import { setImmediate as turn } from 'node:timers/promises'
import t from 'tap'
import { startRedisSentinel, SENTINEL_MASTER, type RedisSentinelSet } from '../../fixtures/redis-sentinel.js'
import { requireRedisServer } from '../../fixtures/redis-server.js'
import { buildTestApp, captureLogs, until } from '../../helper.js'
import { fleet, orderUrl, sharesEverything } from './fleet.js'

// three servers, a sync and the sentinel's discovery, then a failover: generous on a busy machine
t.setTimeout(300_000)

t.test('Redis Sentinel: REDIS_SENTINELS and REDIS_SENTINEL_MASTER', async (t) => {
  if (!requireRedisServer(t)) return
  let set!: RedisSentinelSet
  t.before(async () => { set = await startRedisSentinel(t) })
  const sentinelEnv = (): Record<string, string> => ({ REDIS_SENTINELS: set.sentinels, REDIS_SENTINEL_MASTER: SENTINEL_MASTER, REDIS_PASSWORD: set.password, REDIS_SENTINEL_PASSWORD: set.sentinelPassword })

  sharesEverything(t, sentinelEnv)

  t.test('a failover while serving: no error answers, and one vendor call per order once it settles', async (t) => {
    const { replicas, vendorCalls } = await fleet(t, sentinelEnv(), { CACHE_FRESH_MS: '1000', REDIS_TIMEOUT_MS: '250' }, 20)
    const answers: Array<{ statusCode: number, body: string }> = []
    const failingOver = { now: true }
    const startedAt = performance.now()
    const failover = set.failover().finally(() => { failingOver.now = false })
    // requests go on until the sentinel names the new master and both replicas share through it again
    while (failingOver.now || !replicas.every((replica) => replica.sharedState.isShared())) {
      const batch = await Promise.all(Array.from({ length: 6 }, (_, i) => replicas[i % 2]!.inject({ url: orderUrl(1001 + (i % 3)) })))
      answers.push(...batch.map(({ statusCode, body }) => ({ statusCode, body })))
      // answers from memory never reach the event loop's I/O phase: let the failover's redis-cli calls be read
      await turn()
      if (performance.now() - startedAt > 120_000) break
    }
    await failover
    const settledMs = Math.round(performance.now() - startedAt)
    t.ok(replicas.every((replica) => replica.sharedState.isShared()), `both replicas share again, ${settledMs} ms after SENTINEL FAILOVER`)
    t.equal(await set.masterPort(), set.replica.port, 'the replica is the master now')
    const wrong = answers.filter(({ statusCode, body }) => statusCode !== 200 || !/"id":100[123]/.test(body))
    t.same(wrong, [], `every one of ${answers.length} answers is the order asked for (${vendorCalls()} vendor calls for the 3 orders meanwhile)`)

    const before = vendorCalls()
    const after = await Promise.all(Array.from({ length: 60 }, (_, i) => replicas[i % 2]!.inject({ url: orderUrl(2001 + (i % 3)) })))
    t.ok(after.every((res) => res.statusCode === 200), 'answered')
    t.equal(vendorCalls() - before, 3, 'three orders, three vendor calls across both replicas')
  })

  t.test('the password is never logged', async (t) => {
    const { vendorUrl } = await fleet(t, sentinelEnv(), {}, 0)
    const logs = captureLogs()
    const app = await buildTestApp(t, vendorUrl, {}, { logger: logs.logger }, { ...sentinelEnv(), CACHE_ENABLED: 'true', LOG_LEVEL: 'trace' })
    await until(() => app.sharedState.isShared(), { what: 'the replica on Redis' })
    t.equal((await app.inject({ url: orderUrl(54) })).statusCode, 200)
    for (const secret of [set.password, set.sentinelPassword]) t.notOk(logs.lines().includes(secret), 'not in any log line')
  })

  t.test('every Redis and the sentinel lost: every request still answered, from memory', async (t) => {
    const { replicas } = await fleet(t, sentinelEnv(), { REDIS_TIMEOUT_MS: '100' }, 0)
    await set.killAll()
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => replicas[i % 2]!.inject({ url: orderUrl(1001 + (i % 4)) })))
    t.same(answers.filter((res) => res.statusCode !== 200), [], 'no error answers')
    await until(() => replicas.every((replica) => !replica.sharedState.isShared()), { what: 'both replicas noticing' })
  })
})
