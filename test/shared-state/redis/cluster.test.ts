import t from 'tap'
import { createRedisLink } from '../../../src/shared-state/redis/link.js'
import { startRedisCluster, type RedisCluster } from '../../fixtures/redis-cluster.js'
import { redisCli } from '../../fixtures/redis-cli.js'
import { requireRedisServer } from '../../fixtures/redis-server.js'
import { until } from '../../helper.js'
import { fleet, orderUrl, sharesEverything } from './fleet.js'

const QUIET = { info: () => {}, warn: () => {} }

// three servers to start and join, then six fleets: generous on a busy machine
t.setTimeout(300_000)

t.test('Redis Cluster: REDIS_CLUSTER_NODES', async (t) => {
  if (!requireRedisServer(t)) return
  let cluster!: RedisCluster
  t.before(async () => { cluster = await startRedisCluster(t) })

  t.test('keys spread over the masters under the prefix; the link pings, publishes and hears through any node', async (t) => {
    const link = createRedisLink({ clusterNodes: [{ host: '127.0.0.1', port: cluster.nodes[0]!.port }], password: null, tls: false, keyPrefix: 'cluster-link:', commandTimeoutMs: 500 }, QUIET)
    t.teardown(() => link.close())
    await link.connect()
    t.ok(link.isUp(), 'up from one seed node')
    for (let i = 0; i < 30; i++) await link.client.set(`outcome:${i}:${16327129}`, 'x', 'PX', 60_000)
    const counts = await Promise.all(cluster.nodes.map(async ({ port }) => Number((await redisCli(port, ['EVAL', 'return #redis.call("keys", "cluster-link:*")', '0'])).trim())))
    t.ok(counts.every((count) => count > 0), `every master holds some (${counts.join(', ')})`)
    t.equal(counts.reduce((a, b) => a + b), 30, 'all of them prefixed')
    const heard: string[] = []
    link.subscribe('changes', (message) => { heard.push(message) })
    await until(async () => { await link.publish('changes', 'hello'); return heard.length > 0 }, { everyMs: 100, what: 'a message heard' })
    t.equal(heard[0], 'hello')
  })

  sharesEverything(t, () => ({ REDIS_CLUSTER_NODES: cluster.seeds }))

  t.test('the whole cluster lost: every request still answered, from memory', async (t) => {
    const { replicas } = await fleet(t, { REDIS_CLUSTER_NODES: cluster.seeds }, { REDIS_TIMEOUT_MS: '100' }, 0)
    await Promise.all(cluster.nodes.map((node) => node.kill()))
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => replicas[i % 2]!.inject({ url: orderUrl(1001 + (i % 4)) })))
    t.same(answers.filter((res) => res.statusCode !== 200), [], 'no error answers')
    await until(() => replicas.every((replica) => !replica.sharedState.isShared()), { what: 'both replicas noticing' })
  })
})
