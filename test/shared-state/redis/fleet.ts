import type { Test } from 'tap'
import { buildSimulator } from '../../../src/simulator/app.js'
import type { Outcome } from '../../../src/orders/outcome.js'
import { buildTestApp, TEST_CREDENTIALS, until } from '../../helper.js'
import { order } from '../../orders/fixtures/read-through.js'

export const MACHINE = 16327129
export const orderUrl = (id: number): string => `/orders/${id}?machine=${MACHINE}`

let fleets = 0

/**
 * Two replicas of the service on the Redis `redisEnv` names (under a key prefix of their own),
 * in front of one simulator that answers after latencyMs; vendorCalls counts what reached it.
 */
export async function fleet (t: Test, redisEnv: Record<string, string>, env: Record<string, string> = {}, latencyMs = 200) {
  const simulator = buildSimulator({ credentials: TEST_CREDENTIALS, faults: { latencyMs } })
  t.teardown(() => simulator.close())
  const vendorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 })
  const settings = { CACHE_ENABLED: 'true', CACHE_FRESH_MS: '60000', REDIS_KEY_PREFIX: `fleet-${process.pid}-${++fleets}:`, VENDOR_TIMEOUT_MS: '5000', ...redisEnv, ...env }
  const replicas = [await buildTestApp(t, vendorUrl, {}, {}, settings), await buildTestApp(t, vendorUrl, {}, {}, settings)] as const
  await until(() => replicas.every((replica) => replica.sharedState.isShared()), { timeoutMs: 30_000, what: 'both replicas on Redis' })
  return { simulator, vendorUrl, replicas, vendorCalls: () => simulator.simulator.stats.calls }
}

/**
 * What the replicas share, whichever way they reach Redis: one vendor call for an order asked
 * of both at once, the answer cache, the rate-limit budget and the watchers' news.
 */
export function sharesEverything (t: Test, redisEnv: () => Record<string, string>): void {
  t.test('50 concurrent requests for one order, spread over both replicas, make one vendor call', async (t) => {
    const { replicas, vendorCalls } = await fleet(t, redisEnv())
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => replicas[i % 2]!.inject({ url: orderUrl(54) })))
    t.equal(vendorCalls(), 1, 'one call for the whole fleet')
    t.ok(answers.every((res) => res.statusCode === 200 && res.json().id === 54), 'every answer is the order')
    t.ok(answers.some((res) => String(res.headers['cache-status']).includes('collapsed')), 'others were collapsed into its call')
  })

  t.test('an order cached by one replica is a hit on the other', async (t) => {
    const { replicas, vendorCalls } = await fleet(t, redisEnv(), {}, 0)
    t.match((await replicas[0].inject({ url: orderUrl(54) })).headers['cache-status'], /fwd=miss; stored/)
    const other = await replicas[1].inject({ url: orderUrl(54) })
    t.equal(other.statusCode, 200)
    t.match(other.headers['cache-status'], /; hit;/, 'served from the shared cache')
    t.equal(vendorCalls(), 1)
  })

  t.test('a key\'s budget is the fleet\'s', async (t) => {
    const { replicas } = await fleet(t, redisEnv(), { RATE_LIMIT_MAX: '3' }, 0)
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await replicas[i % 2]!.inject({ url: orderUrl(54) })).statusCode)
    t.same(statuses, [200, 200, 200, 429], 'the fourth request is limited, on whichever replica')
  })

  t.test('a change one replica\'s poller saw reaches the other\'s watchers', async (t) => {
    const { replicas } = await fleet(t, redisEnv(), {}, 0)
    const heard: string[] = []
    replicas[1].sharedState.watchBus.onChange((key) => { heard.push(key) })
    const change: Outcome = { kind: 'order', order: order(77), storedAt: Date.now(), freshMs: 60_000 }
    // the subscription may still be on its way: published again until it is heard
    await until(() => {
      replicas[0].sharedState.watchBus.publishChange(`77:${MACHINE}`, change)
      return heard.length > 0
    }, { everyMs: 100, what: 'the change heard on the other replica' })
    t.equal(heard[0], `77:${MACHINE}`)
  })
}
