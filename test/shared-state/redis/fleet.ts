import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { Outcome } from '../../../src/orders/outcome.js'
import { createLogger } from '../../../src/observability/logger.js'
import { buildSimulator } from '../../../src/simulator/app.js'
import { lineSink } from '../../fixtures/logger.js'
import { buildTestApp, openEventStream, TEST_CREDENTIALS, until } from '../../helper.js'
import { order } from '../../orders/fixtures/read-through.js'
import { SIGNING_KEY } from './fixtures/trust.js'

// Two replicas of the service on one Redis, however it is reached (one server, Sentinel,
// Cluster), and what they must share whichever it is: the tests of each mode run these.

export const MACHINE = 16327129
export const orderUrl = (id: number): string => `/orders/${id}?machine=${MACHINE}`

export interface Replica {
  app: FastifyInstance
  /** the warnings and errors it logged, as JSON lines */
  lines: () => string[]
  /** how many times its link to Redis went down */
  downs: () => number
  /** the reasons it went down that were Redis refusing a command (CROSSSLOT, NOSCRIPT, ERR ...), not a timeout or a lost connection */
  refusals: () => string[]
}

let fleets = 0

/**
 * Two replicas on the Redis `redisEnv` names, under a key prefix of their own, in front of one
 * simulator that answers after latencyMs; `vendorCalls` counts what reached it, by order too.
 */
export async function startFleet (t: Test, redisEnv: Record<string, string>, env: Record<string, string> = {}, latencyMs = 200) {
  const simulator = buildSimulator({ credentials: TEST_CREDENTIALS, faults: { latencyMs } })
  t.teardown(() => simulator.close())
  const vendorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 })
  // REDIS_TIMEOUT_MS: a busy test machine must not make a slow command look like Redis lost
  // one signing key for the fleet (outside production each process would draw its own), and
  // REDIS_SLOW_MS near the timeout: what these tests fail over is Redis, not its speed
  const settings = {
    CACHE_ENABLED: 'true',
    CACHE_FRESH_MS: '60000',
    REDIS_KEY_PREFIX: `fleet-${process.pid}-${++fleets}:`,
    REDIS_TIMEOUT_MS: '1000',
    REDIS_SLOW_MS: '900',
    REDIS_SIGNING_KEY: SIGNING_KEY,
    VENDOR_TIMEOUT_MS: '5000',
    ...redisEnv,
    ...env
  }
  const replica = async (): Promise<Replica> => {
    const lines: string[] = []
    // warnings and up: the link's state changes, never a line per request
    const logger = createLogger('warn', lineSink((text) => { lines.push(text) }))
    const app = await buildTestApp(t, vendorUrl, {}, { logger }, settings)
    const reasons = (): string[] => lines.filter((line) => line.includes('"redis":"down"')).map((line) => String(JSON.parse(line).reason))
    return { app, lines: () => lines, downs: () => reasons().length, refusals: () => reasons().filter((reason) => /^[A-Z]+ /.test(reason)) }
  }
  const replicas = [await replica(), await replica()] as const
  await until(() => replicas.every(({ app }) => app.sharedState.isShared()), { timeoutMs: 60_000, what: 'both replicas on Redis' })
  const stats = simulator.simulator.stats
  return {
    simulator,
    vendorUrl,
    replicas,
    settings,
    vendorCalls: () => stats.calls,
    /** the vendor calls made for each order so far, by order id */
    callsByOrder: (): Record<string, number> => ({ ...stats.byOrder })
  }
}

/** Resolves once a change each replica publishes reaches the other's watchers: pub/sub works both ways. */
export async function heardAcross (replicas: readonly [Replica, Replica], id = 77): Promise<void> {
  const key = `${id}:${MACHINE}`
  const change: Outcome = { kind: 'order', order: order(id), storedAt: Date.now(), freshMs: 60_000 }
  for (const [from, to] of [[replicas[0], replicas[1]], [replicas[1], replicas[0]]] as const) {
    let heard = false
    to.app.sharedState.watchBus.onChange((changed) => { if (changed === key) heard = true })
    // a subscription may still be on its way: published again until it is heard
    await until(() => {
      from.app.sharedState.watchBus.publishChange(key, change)
      return heard
    }, { timeoutMs: 60_000, everyMs: 100, what: 'a change heard on the other replica' })
  }
}

/**
 * What the replicas share, whichever way they reach Redis: one vendor call for an order asked
 * of both at once, the answer cache, the rate-limit budget and the watchers' news; and Redis
 * refuses none of their commands (one across hash slots would be, in a cluster).
 */
export function sharesEverything (t: Test, redisEnv: () => Record<string, string>): void {
  t.test('50 concurrent requests for one order, spread over both replicas, make one vendor call', async (t) => {
    const { replicas, vendorCalls } = await startFleet(t, redisEnv())
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => replicas[i % 2]!.app.inject({ url: orderUrl(54) })))
    t.equal(vendorCalls(), 1, 'one call for the whole fleet')
    t.same(answers.filter((res) => res.statusCode !== 200 || res.json().id !== 54), [], 'every answer is the order asked for')
    const results = answers.map((res) => String(res.headers['cache-status']))
    t.equal(results.filter((status) => status.includes('stored')).length, 1, 'one replica asked the vendor...')
    t.ok(results.some((status) => status.includes('collapsed')), '...the others were collapsed into its call')
    t.same(replicas.map((replica) => replica.refusals()), [[], []], 'Redis refused no command')
  })

  t.test('an order or a not-found answer one replica got is a hit on the other', async (t) => {
    const { replicas, vendorCalls } = await startFleet(t, redisEnv(), {}, 0)
    for (const id of [54, 1001, 1002, 1003, 99999]) {
      t.match((await replicas[0].app.inject({ url: orderUrl(id) })).headers['cache-status'], /fwd=miss; stored/, `${id} asked of the vendor`)
      const other = await replicas[1].app.inject({ url: orderUrl(id) })
      t.equal(other.statusCode, id === 99999 ? 404 : 200)
      t.match(other.headers['cache-status'], /; hit;/, `${id} served from the shared cache`)
    }
    t.equal(vendorCalls(), 5, 'one call per order')
    t.same(replicas.map((replica) => replica.refusals()), [[], []], 'Redis refused no command')
  })

  t.test('a client\'s budget is the fleet\'s', async (t) => {
    const { replicas } = await startFleet(t, redisEnv(), { RATE_LIMIT_MAX: '3' }, 0)
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await replicas[i % 2]!.app.inject({ url: orderUrl(54) })).statusCode)
    t.same(statuses, [200, 200, 200, 429], 'the fourth request is limited, on whichever replica')
  })

  t.test('a client\'s open event streams are counted for the fleet (EVENTS_MAX_PER_CLIENT)', async (t) => {
    const { replicas } = await startFleet(t, redisEnv(), { EVENTS_MAX_PER_CLIENT: '1' }, 0)
    const urls = await Promise.all(replicas.map(({ app }) => app.listen({ host: '127.0.0.1', port: 0 })))
    // an unpaid order that never changes: its stream stays open
    const first = await openEventStream(t, `${urls[0]}/orders/1008/events?machine=${MACHINE}`)
    t.equal(first.status, 200)
    await first.next()
    const second = await openEventStream(t, `${urls[1]}/orders/1008/events?machine=${MACHINE}`)
    t.equal(second.status, 429, 'the client\'s one stream is open on the other replica')
    await second.text()
    t.same(replicas.map((replica) => replica.refusals()), [[], []], 'Redis refused no command')
  })

  t.test('a change one replica publishes reaches the other\'s watchers, both ways', async (t) => {
    const { replicas } = await startFleet(t, redisEnv(), {}, 0)
    await heardAcross(replicas)
    t.pass('heard')
  })
}
