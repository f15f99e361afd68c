import t from 'tap'
import { createRedisCallTokens } from '../../../src/shared-state/redis/call-budget.js'
import { createRedisLink } from '../../../src/shared-state/redis/link.js'
import { watchLatency } from '../../../src/shared-state/redis/latency.js'
import { startRedisCluster, type RedisCluster } from '../../fixtures/redis-cluster.js'
import { redisCli } from '../../fixtures/redis-cli.js'
import { requireRedisServer } from '../../fixtures/redis-server.js'
import { captureLogs, QUIET, until } from '../../helper.js'
import { orderUrl, sharesEverything, startFleet } from './fleet.js'

// three servers to start and join, then a fleet per test: generous on a busy machine (CI runs files in parallel)
t.setTimeout(300_000)

t.test('Redis Cluster: REDIS_CLUSTER_NODES', async (t) => {
  if (!requireRedisServer(t)) return
  let cluster!: RedisCluster
  t.before(async () => { cluster = await startRedisCluster(t) })
  const clusterEnv = (): Record<string, string> => ({ REDIS_CLUSTER_NODES: cluster.seeds, REDIS_USERNAME: cluster.user, REDIS_PASSWORD: cluster.password })
  /** a link's settings with one seed node, the first unless told */
  const settings = (seed = 0) => ({ clusterNodes: [{ host: '127.0.0.1', port: cluster.nodes[seed]!.port }], username: cluster.user, password: cluster.password, tls: false, commandTimeoutMs: 1000 })

  t.test('from one seed node: keys spread over every master under the prefix, and a message published reaches a subscriber on any node', async (t) => {
    const link = createRedisLink({ ...settings(), keyPrefix: 'cluster-link:' }, QUIET)
    t.teardown(() => link.close())
    await link.connect()
    t.ok(link.isUp(), 'up from one seed node')
    for (let i = 0; i < 30; i++) await link.client.set(`outcome:${1000 + i}:16327129`, 'x', 'PX', 60_000)
    const keys = await cluster.keysByNode('cluster-link:')
    t.ok(keys.every((held) => held.length > 0), `every master holds some (${keys.map((held) => held.length).join(', ')})`)
    t.equal(keys.flat().length, 30, 'every one under the prefix')
    t.equal(await link.client.eval('return redis.call("get", KEYS[1])', 1, 'outcome:1000:16327129'), 'x', 'a one-key script goes to its key\'s master')
    // what the service never does (fleet.ts's refusals): keys in two slots in one script; a hash tag puts them in one
    await t.rejects(link.client.eval('return 1', 2, 'outcome:1000:16327129', 'lock:1000:16327129'), /^CROSSSLOT /, 'two slots: refused')
    t.equal(await link.client.eval('return 1', 2, 'outcome:{1000:16327129}', 'lock:{1000:16327129}'), 1, 'one hash tag, one slot')

    // three links, each seeded with another node, so their subscribers are on three nodes: each hears what any of them publishes
    const others = [1, 2].map((seed) => createRedisLink({ ...settings(seed), keyPrefix: 'cluster-link:' }, QUIET))
    for (const other of others) t.teardown(() => other.close())
    await Promise.all(others.map((other) => other.connect()))
    const heard = [link, ...others].map((each) => {
      const messages: string[] = []
      each.subscribe('changes', (message) => { messages.push(message) })
      return messages
    })
    await until(async () => { await others[1]!.publish('changes', 'hello'); return heard.every((messages) => messages.length > 0) }, { everyMs: 100, what: 'the message heard on every link' })
    t.same(heard.map((messages) => messages[0]), ['hello', 'hello', 'hello'])
    const subscribers = await Promise.all(cluster.nodes.map(async ({ port }) => Number((await redisCli(port, ['PUBSUB', 'NUMSUB', 'cluster-link:changes'], cluster.auth)).trim().split('\n')[1])))
    t.same(subscribers.sort(), [1, 1, 1], 'one subscriber on each node')
  })

  t.test('the vendor call budget\'s script, two keys under one hash tag: two replicas take from one bucket', async (t) => {
    const links = [0, 1].map((seed) => createRedisLink({ ...settings(seed), keyPrefix: 'cluster-budget:' }, QUIET))
    for (const link of links) t.teardown(() => link.close())
    await Promise.all(links.map((link) => link.connect()))
    // one call every 10 s: the bucket does not refill between the takes, however slow the machine
    const [a, b] = links.map((link) => createRedisCallTokens({ link: watchLatency(link, { slowMs: 10_000, log: QUIET }), reject: () => {}, limits: { perSecond: 0.1, burst: 1, reserve: 0 }, now: Date.now }))
    t.equal(await a!.take(false), 0, 'the bucket\'s one call')
    t.ok(await b!.take(false) > 0, 'the other replica finds it taken')
    t.ok(links.every((link) => link.isUp()), 'no command refused')
    const keys = await cluster.keysByNode('cluster-budget:')
    t.same(keys.map((held) => held.length).sort(), [0, 0, 2], 'bucket and takers on one master')
  })

  t.test('a master lost: the link goes down and its subscription moves to a node still there; the master back, it is up and hears again', async (t) => {
    const logs = captureLogs()
    const link = createRedisLink({ ...settings(), keyPrefix: 'cluster-lost:' }, { info: (obj, msg) => { logs.logger.info(obj, msg) }, warn: (obj, msg) => { logs.logger.warn(obj, msg) } })
    t.teardown(() => link.close())
    const messages: string[] = []
    link.subscribe('changes', (message) => { messages.push(message) })
    await link.connect()
    t.ok(link.isUp())
    const subscribers = async (): Promise<number[]> => await Promise.all(cluster.nodes.map(async ({ port }) => {
      const answer = await redisCli(port, ['PUBSUB', 'NUMSUB', 'cluster-lost:changes'], cluster.auth).catch(() => '')
      return Number(answer.trim().split('\n')[1] ?? 0)
    }))
    const on = (await subscribers()).indexOf(1)
    t.not(on, -1, 'subscribed on one node')
    const node = cluster.nodes[on]!
    await node.kill()
    await until(() => !link.isUp(), { what: 'the link noticing' })
    await until(async () => (await subscribers()).some((count, i) => i !== on && count === 1), { timeoutMs: 60_000, what: 'the subscription on another node' })
    t.notOk(link.isUp(), 'still down while a master is away')
    await node.restart()
    await until(() => link.isUp(), { timeoutMs: 60_000, what: 'the link up again' })
    await until(async () => { await link.publish('changes', 'after'); return messages.includes('after') }, { everyMs: 100, what: 'a message heard after the move' })
    t.pass('heard after the move')
    t.notOk(logs.lines().includes(cluster.password), 'the password is not logged')
    await cluster.healthy()
  })

  sharesEverything(t, clusterEnv)

  t.test('a master lost while serving: no error answers, each the order asked for; back, the replicas share again', async (t) => {
    const { replicas, callsByOrder } = await startFleet(t, clusterEnv(), { CACHE_FRESH_MS: '1000', RATE_LIMIT_MAX: '1000000' }, 0)
    const orders = [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009]
    const ask = async (round: number) => await Promise.all(orders.flatMap((id) => [0, 1].map(async (replica) => {
      const res = await replicas[replica]!.app.inject({ url: orderUrl(id) })
      return { round, asked: id, status: res.statusCode, id: res.json().id }
    })))
    const answers = [...await ask(0)]
    const node = cluster.nodes[1]!
    await node.kill()
    for (let round = 1; round <= 5 || replicas.some(({ app }) => app.sharedState.isShared()); round++) {
      answers.push(...await ask(round))
      if (round > 500) break
    }
    t.ok(replicas.every(({ app }) => !app.sharedState.isShared()), 'both replicas noticed, and answer from memory')
    t.same(answers.filter(({ status }) => status !== 200), [], 'no error answers')
    t.same(answers.filter(({ asked, id }) => asked !== id), [], `every one of ${answers.length} answers is the order asked for`)
    await node.restart()
    await cluster.healthy()
    await until(() => replicas.every(({ app }) => app.sharedState.isShared()), { timeoutMs: 60_000, what: 'both replicas sharing again' })
    const before = callsByOrder()
    const again = await Promise.all([0, 1].map(async (replica) => await replicas[replica]!.app.inject({ url: orderUrl(54) })))
    t.same(again.map((res) => res.json().id), [54, 54])
    t.equal((callsByOrder()['54'] ?? 0) - (before['54'] ?? 0), 1, 'one vendor call for both replicas again')
  })

  t.test('the whole cluster lost: every request still answered, from memory', async (t) => {
    const { replicas } = await startFleet(t, clusterEnv(), { REDIS_TIMEOUT_MS: '100' }, 0)
    await Promise.all(cluster.nodes.map((node) => node.kill()))
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => replicas[i % 2]!.app.inject({ url: orderUrl(1001 + (i % 4)) })))
    t.same(answers.filter((res, i) => res.statusCode !== 200 || res.json().id !== 1001 + (i % 4)), [], 'every answer is the order asked for')
    await until(() => replicas.every(({ app }) => !app.sharedState.isShared()), { what: 'both replicas noticing' })
    t.pass('both in memory')
  })
})
