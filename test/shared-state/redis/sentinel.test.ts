import { setImmediate as turn } from 'node:timers/promises'
import t from 'tap'
import { startRedisSentinel, SENTINEL_MASTER, type RedisSentinelSet } from '../../fixtures/redis-sentinel.js'
import { requireRedisServer } from '../../fixtures/redis-server.js'
import { buildTestApp, captureLogs, until } from '../../helper.js'
import { heardAcross, orderUrl, sharesEverything, startFleet } from './fleet.js'

// three servers, a sync and the sentinel's discovery, then a failover that takes seconds on a busy
// machine: generous, since CI runs the files in parallel (the waits inside are bounded on their own)
t.setTimeout(300_000)

/** Orders the simulator serves on the test machine, one per status (docs/simulator.md). */
const DURING = [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009]
/** Orders nobody asked for before the failover settled. */
const AFTER = [54, 1010, 1011, 1012, 2001, 2002, 2003]

interface Answer { asked: number, replica: number, status: number, id: unknown, code: unknown, cacheStatus: string, shared: boolean }

t.test('Redis Sentinel: REDIS_SENTINELS and REDIS_SENTINEL_MASTER', async (t) => {
  if (!requireRedisServer(t)) return
  let set!: RedisSentinelSet
  t.before(async () => { set = await startRedisSentinel(t) })
  const sentinelEnv = (): Record<string, string> => ({
    REDIS_SENTINELS: set.sentinels, REDIS_SENTINEL_MASTER: SENTINEL_MASTER, REDIS_PASSWORD: set.password, REDIS_SENTINEL_PASSWORD: set.sentinelPassword
  })

  sharesEverything(t, sentinelEnv)

  t.test('a failover while serving: every answer the order asked for, no error answers, and one vendor call per order once it settles', async (t) => {
    // RATE_LIMIT_MAX: the clients below are one address, and the earlier attempt at this test ran into
    // its budget (1000 a minute): its 429s were counted as "not the order asked for"
    const fleet = await startFleet(t, sentinelEnv(), { CACHE_FRESH_MS: '1000', RATE_LIMIT_MAX: '1000000' }, 20)
    const { replicas } = fleet
    const answers: Answer[] = []
    const stop = new AbortController()
    // four clients, each asking for the orders in turn, on both replicas
    const clients = Array.from({ length: 4 }, async (_, client) => {
      for (let i = client; !stop.signal.aborted; i++) {
        const asked = DURING[i % DURING.length]!
        const replica = (i + client) % 2
        const { app } = replicas[replica]!
        const res = await app.inject({ url: orderUrl(asked) })
        const body = res.json()
        answers.push({ asked, replica, status: res.statusCode, id: body.id, code: body.code, cacheStatus: String(res.headers['cache-status']), shared: app.sharedState.isShared() })
        // answers from memory never reach the event loop's I/O phase: let the connections' events in
        await turn()
      }
    })
    await until(() => answers.length >= 100, { timeoutMs: 60_000, what: 'the fleet serving' })
    const downs = replicas.map((replica) => replica.downs())
    const before = answers.length
    await set.failover()
    t.equal(await set.masterPort(), set.replica.port, 'the sentinel names the replica as the master now')
    // each replica follows the failover: its link drops, and comes back on the new master with its subscriptions
    await until(() => replicas.every((replica, i) => replica.downs() > downs[i]! && replica.app.sharedState.isShared()), { timeoutMs: 120_000, what: 'both replicas on the new master' })
    await heardAcross(replicas)
    const settled = answers.length
    stop.abort()
    await Promise.all(clients)

    const alone = answers.slice(before, settled).filter((answer) => !answer.shared).length
    t.ok(alone > 0, `${settled - before} answers while failing over (${alone} while that replica had no Redis), ${answers.length} in all`)
    const notAsked = answers.filter((answer) => answer.status === 200 && answer.id !== answer.asked)
    t.same(notAsked, [], `every one of ${answers.length} answers is the order asked for`)
    const errors = answers.filter((answer) => answer.status !== 200)
    t.same(errors, [], 'no error answers')

    const calls = fleet.callsByOrder()
    fleet.simulator.simulator.setFaults({ latencyMs: 300 })
    // every order asked of both replicas at once, while the vendor takes its time
    const after = await Promise.all(AFTER.flatMap((id) => Array.from({ length: 8 }, (_, i) => replicas[i % 2]!.app.inject({ url: orderUrl(id) }).then((res) => ({ asked: id, res })))))
    t.same(after.filter(({ asked, res }) => res.statusCode !== 200 || res.json().id !== asked).map(({ asked, res }) => ({ asked, status: res.statusCode })), [], 'answered, each the order asked for')
    const now = fleet.callsByOrder()
    t.same(Object.fromEntries(AFTER.map((id) => [id, (now[id] ?? 0) - (calls[id] ?? 0)])), Object.fromEntries(AFTER.map((id) => [id, 1])), 'one vendor call per order across both replicas')
  })

  t.test('no password in any log line (trace level) or answer, the servers\' or the sentinels\'', async (t) => {
    const { vendorUrl } = await startFleet(t, sentinelEnv(), {}, 0)
    const logs = captureLogs()
    const app = await buildTestApp(t, vendorUrl, {}, { logger: logs.logger }, { ...sentinelEnv(), CACHE_ENABLED: 'true', LOG_LEVEL: 'trace' })
    await until(() => app.sharedState.isShared(), { what: 'the replica on Redis' })
    const answers = await Promise.all([orderUrl(54), orderUrl(99999), '/health/ready', '/nowhere'].map(async (url) => await app.inject({ url })))
    t.same(answers.map((res) => res.statusCode), [200, 404, 200, 404])
    await app.close()
    t.match(logs.lines(), /"redis":"up"/, 'the link\'s lines are there')
    for (const secret of [set.password, set.sentinelPassword]) {
      t.notOk(logs.lines().includes(secret), 'not in any log line')
      t.notOk(answers.some((res) => res.body.includes(secret) || JSON.stringify(res.headers).includes(secret)), 'not in any answer')
    }
  })

  t.test('a wrong password: the replica answers from its own memory, and no log line holds either password', async (t) => {
    const { vendorUrl } = await startFleet(t, sentinelEnv(), {}, 0)
    const logs = captureLogs()
    const wrong = 'a-wrong-servers-pw-0f4e'
    const app = await buildTestApp(t, vendorUrl, {}, { logger: logs.logger }, { ...sentinelEnv(), REDIS_PASSWORD: wrong, CACHE_ENABLED: 'true', LOG_LEVEL: 'trace' })
    t.notOk(app.sharedState.isShared(), 'not shared')
    t.equal((await app.inject({ url: orderUrl(54) })).statusCode, 200, 'answered')
    t.match(logs.lines(), /Redis not reachable at start/)
    for (const secret of [wrong, set.password, set.sentinelPassword]) t.notOk(logs.lines().includes(secret), 'no password logged')
  })

  t.test('every Redis server and the sentinel lost: every request still answered, from memory', async (t) => {
    const { replicas } = await startFleet(t, sentinelEnv(), { REDIS_TIMEOUT_MS: '100' }, 0)
    await set.killAll()
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => replicas[i % 2]!.app.inject({ url: orderUrl(DURING[i % 4]!) })))
    t.same(answers.filter((res, i) => res.statusCode !== 200 || res.json().id !== DURING[i % 4]), [], 'every answer is the order asked for')
    await until(() => replicas.every(({ app }) => !app.sharedState.isShared()), { what: 'both replicas noticing' })
    t.pass('both in memory')
  })
})
