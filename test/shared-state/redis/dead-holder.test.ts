import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { answering, freePort, spawnNode, type NodeProcess } from '../../../scripts/processes.js'
import { createMetrics, type Metrics } from '../../../src/observability/metrics.js'
import type { Order } from '../../../src/orders/schema.js'
import { LEASE_MS } from '../../../src/shared-state/redis/lease-renewal.js'
import { buildSimulator } from '../../../src/simulator/app.js'
import { DISPENSING_AFTER_MS, FINISHED_AFTER_MS, PAID_AFTER_MS } from '../../../src/simulator/scenarios.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { buildTestApp, fakeClock, LOCAL_PORTS, openEventStream, startUpstream, TEST_CREDENTIALS, until } from '../../helper.js'
import { SIGNING_KEY } from './fixtures/trust.js'

// The real fault: a replica SIGKILLed while it holds an order's lease, its vendor call in flight.
// Replica A is a process of its own (src/server.ts), B runs here; both on one redis-server, in
// front of one simulator whose clock orders move only when the test says.

const SERVER = new URL('../../../src/server.ts', import.meta.url).pathname
const MACHINE = '16327129'

// processes that compile TypeScript on start, and leases to outlive: slow on a busy 2-core machine
t.setTimeout(600_000)
/** How long anything may take to happen: a guard against hanging, not a measurement. */
const PATIENCE = { timeoutMs: 120_000, everyMs: 20 }

// REDIS_TIMEOUT_MS and REDIS_SLOW_MS generous, as fleet.ts has them: what fails here is a replica, not Redis
const VENDOR_TIMEOUT_MS = 5000
const REDIS_TIMEOUT_MS = 1000
/**
 * The lock period, as src/shared-state/redis/shared-state.ts derives it: the holder's vendor
 * deadline and the store's write, the longest its lease token is good for. A dead holder's lease
 * stood that long when leases were not renewed; now it lapses within LEASE_MS.
 */
const LOCK_MS = VENDOR_TIMEOUT_MS + 2 * REDIS_TIMEOUT_MS

/** What one watcher saw of an order: its status and its lines' statuses. */
const stateOf = (order: Order): string => `${order.status} ${order.items.map((item) => item.status ?? '-').join(',')}`

/** Order 2001's run, as src/simulator/scenarios.ts moves it: unpaid, paid, dispensing, dispensed. */
const RUN = ['NOTPAY -,-', 'SUCCESS WAITING_PICKED_UP,WAITING_PICKED_UP', 'SUCCESS IS_DELIVERING,IS_DELIVERING', 'SUCCESS IS_SUCCESS,IS_SUCCESS']
/** How long a clock order is paid for, on the simulator's clock: 4 s, shorter than the lock period. */
const PAID_PHASE_MS = DISPENSING_AFTER_MS - PAID_AFTER_MS

/** The sum of the values of the metrics lines `line` (global, multiline) matches; 0 when there are none. */
async function metric (metrics: Metrics, line: RegExp): Promise<number> {
  return [...(await metrics.registry.metrics()).matchAll(line)].reduce((sum, match) => sum + Number(match[1]), 0)
}

interface DeadHolderFleet {
  raw: Redis
  /** the simulator's own stats: which order it was asked for, how often */
  callsFor: (id: number) => number
  /** moves the simulator's clock (the clock orders' runs) */
  advance: (ms: number) => Promise<void>
  /** the calls replica A made: its vendor takes them and never answers */
  stalledCalls: () => number
  a: NodeProcess & { url: string }
  b: { app: FastifyInstance, url: string, metrics: Metrics }
  /** the order's lease key in Redis, under the fleet's prefix */
  lock: (id: number) => string
}

/**
 * Redis, the simulator on a fake clock, replica A as a child process whose vendor never answers
 * (its CACHE_FRESH_MS 0: whatever is kept, it asks), and replica B here, in front of the
 * simulator, with `bEnv`; both on Redis before this resolves.
 */
async function deadHolderFleet (t: Test, bEnv: Record<string, string> = {}): Promise<DeadHolderFleet> {
  const redis = await startRedisServer(t)
  const { Redis } = await import('ioredis')
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())

  const clock = fakeClock()
  const simulator = buildSimulator({ credentials: TEST_CREDENTIALS, now: clock.now, scheduler: clock.scheduler })
  t.teardown(() => simulator.close())
  const vendorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 })
  // A's call is in flight when it dies, however slow the machine: nothing ever answers it
  const stalled = await startUpstream(t, () => {})

  const prefix = `dead-holder-${redis.port}:`
  const fleetEnv = {
    CACHE_ENABLED: 'true',
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: prefix,
    REDIS_SIGNING_KEY: SIGNING_KEY,
    REDIS_TIMEOUT_MS: String(REDIS_TIMEOUT_MS),
    REDIS_SLOW_MS: '900',
    VENDOR_TIMEOUT_MS: String(VENDOR_TIMEOUT_MS),
    VENDOR_MAX_RETRIES: '0',
    VENDOR_MAX_CALLS_PER_SECOND: '0'
  }

  const port = await freePort()
  const a = spawnNode('replica A', SERVER, {
    // transpile only, as tap's own loader does; load shedding off: a busy machine must not make A refuse
    env: {
      ...LOCAL_PORTS,
      PORT: String(port),
      TS_NODE_TRANSPILE_ONLY: '1',
      LOG_LEVEL: 'warn',
      MAX_EVENT_LOOP_DELAY_MS: '0',
      MAX_RSS_BYTES: '0',
      RATE_LIMIT_MAX: '1000',
      VENDOR_BASE_URL: stalled.url,
      VENDOR_APP_ID: TEST_CREDENTIALS.appId,
      VENDOR_APP_SECRET: TEST_CREDENTIALS.appSecret,
      VENDOR_SIGN_KEY: TEST_CREDENTIALS.signKey,
      ...fleetEnv,
      CACHE_FRESH_MS: '0'
    },
    nodeArgs: process.execArgv
  })
  t.teardown(() => { a.child.kill('SIGKILL') })
  const aUrl = `http://127.0.0.1:${port}`
  await answering(a, `${aUrl}/health/live`, PATIENCE.timeoutMs)

  const metrics = createMetrics({ defaultMetrics: false })
  const app = await buildTestApp(t, vendorUrl, {}, { metrics }, { ...fleetEnv, EVENTS_MAX_PER_CLIENT: '100', ...bEnv })
  const bUrl = await app.listen({ host: '127.0.0.1', port: 0 })
  // each replica subscribes to the outcomes channel once it is on Redis
  await until(async () => (await raw.pubsub('NUMSUB', `${prefix}outcomes`))[1] === 2, { ...PATIENCE, what: 'both replicas on Redis' })

  const { stats } = simulator.simulator
  return {
    raw,
    callsFor: (id) => stats.byOrder[String(id)] ?? 0,
    advance: clock.advance,
    stalledCalls: () => stalled.requests.length,
    a: { ...a, url: aUrl },
    b: { app, url: bUrl, metrics },
    lock: (id) => `${prefix}lock:${id}:${MACHINE}`
  }
}

/**
 * Has A ask for the order and resolves once it holds the lease, its vendor call in flight; then
 * SIGKILLs it. Resolves with when A's lease was seen held (performance.now()).
 */
async function killWhileHolding (t: Test, fleet: DeadHolderFleet, id: number): Promise<number> {
  const { a, raw, lock } = fleet
  for (;;) {
    await until(async () => await raw.exists(lock(id)) === 0, { ...PATIENCE, what: 'no lease on the order yet' })
    const calls = fleet.stalledCalls()
    // never answered by the vendor: A dies first
    let answered = false
    fetch(`${a.url}/orders/${id}?machine=${MACHINE}`).then(async (res) => { await res.arrayBuffer(); answered = true }, () => {}).catch(() => {})
    // A calls the vendor only once it holds the lease
    await until(async () => answered || (fleet.stalledCalls() > calls && await raw.exists(lock(id)) === 1), { ...PATIENCE, what: 'A holding the lease, its vendor call in flight' })
    if (!answered) break
    // A's question came while one of B's polls held the lease: A got B's answer; it asks again
  }
  const heldAt = performance.now()
  const left = await raw.pttl(lock(id))
  t.ok(left > 0 && left <= LEASE_MS, `a lease of LEASE_MS, renewed by A while it lives (${left} ms left)`)
  a.child.kill('SIGKILL')
  t.equal(await a.exit, null, 'A ended by the signal')
  t.equal(await raw.exists(lock(id)), 1, 'its lease outlives it')
  return heldAt
}

interface Watching {
  /** what each watcher saw, in order */
  seen: string[][]
  /** resolves once every watcher saw `count` states */
  everyoneHas: (count: number, what: string) => Promise<void>
  /** true once every event stream ended */
  allEnded: () => boolean
}

/** 190 watchers of order 2001 in B's process and 10 event streams on B, each keeping the states it saw. */
async function watchOnB (t: Test, fleet: DeadHolderFleet): Promise<Watching> {
  const { b } = fleet
  const seen: string[][] = []
  for (let i = 0; i < 190; i++) {
    const states: string[] = []
    seen.push(states)
    b.app.watchers.watch(2001, MACHINE, (event) => { if (event.type === 'change' && event.outcome.kind === 'order') states.push(stateOf(event.outcome.order)) })
  }
  const streams = await Promise.all(Array.from({ length: 10 }, async () => await openEventStream(t, `${b.url}/orders/2001/events?machine=${MACHINE}`)))
  t.same(streams.map((stream) => stream.status), streams.map(() => 200), 'every stream opened')
  const ended = streams.map(() => false)
  for (const [i, stream] of streams.entries()) {
    const states: string[] = []
    seen.push(states)
    ;(async () => {
      for (let frame = await stream.next(); frame !== undefined; frame = await stream.next()) states.push(stateOf(JSON.parse(frame.data!)))
      ended[i] = true
    })().catch((error: unknown) => { t.fail(`stream ${i}: ${String(error)}`) })
  }
  return {
    seen,
    everyoneHas: async (count, what) => { await until(() => seen.every((states) => states.length >= count), { ...PATIENCE, what }) },
    allEnded: () => ended.every(Boolean)
  }
}

t.test('a replica SIGKILLed while it holds a lease', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('another replica asked for that order answers it, taking over within one lease period', async (t) => {
    const fleet = await deadHolderFleet(t)
    const { b } = fleet
    await killWhileHolding(t, fleet, 54)

    const started = performance.now()
    const res = await b.app.inject({ url: `/orders/54?machine=${MACHINE}` })
    const waitedMs = performance.now() - started
    t.equal(res.statusCode, 200, 'answered, not 504')
    t.equal(res.json().id, 54, 'the order asked for')
    t.match(res.headers['cache-status'], /fwd=miss; stored/, 'B asked the vendor itself')
    t.equal(fleet.callsFor(54), 1, 'B\'s call reached the vendor: the one call for the order')
    // the lease had at most LEASE_MS left when B first looked, A's renewals over; the slack is for
    // a busy machine, not a measurement, and still far short of the lock period the lease stood before
    t.ok(waitedMs < LEASE_MS + 3000, `answered in ${Math.round(waitedMs)} ms: within one lease (${LEASE_MS} ms) and slack, not the lock period (${LOCK_MS} ms)`)
    const leases = await metric(b.metrics, /^redis_command_duration_seconds_count\{command="lease"\} (\d+)$/gm)
    // its first look, one once the lease's PTTL was up (the take-over), and room for one more of each
    t.ok(leases <= 4, `${leases} lease scripts while waiting: it waited for the lease's PTTL, it did not spin`)
  })

  t.test('the order\'s watchers on another replica get every state, the one it reached while the dead replica held the lease too, and the stream ends on the terminal one', async (t) => {
    // B polls every 5 s: A's request comes between two of its polls, when B has no call in flight
    const fleet = await deadHolderFleet(t, { CACHE_FRESH_MS: '5000' })
    const { b } = fleet
    const { seen, everyoneHas, allEnded } = await watchOnB(t, fleet)
    await everyoneHas(1, 'every watcher told of the unpaid order')
    t.equal(fleet.callsFor(2001), 1, 'one vendor call so far, B\'s')

    await killWhileHolding(t, fleet, 2001)
    // the vendor's order is paid now, while the dead replica's lease stands
    await fleet.advance(PAID_AFTER_MS)
    await everyoneHas(2, 'every watcher told the order was paid, once B took the lease over')
    t.equal(fleet.callsFor(2001), 2, 'B\'s poller asked the vendor itself')
    await fleet.advance(DISPENSING_AFTER_MS - PAID_AFTER_MS)
    await everyoneHas(3, 'every watcher told it is dispensing')
    await fleet.advance(FINISHED_AFTER_MS - DISPENSING_AFTER_MS)
    await everyoneHas(4, 'every watcher told it was dispensed')
    await until(allEnded, { ...PATIENCE, what: 'every stream ended' })

    t.same(seen.filter((states) => states.join('|') !== RUN.join('|')), [], `all ${seen.length} watchers saw the whole run, each state once, in order`)
    t.equal(fleet.stalledCalls(), 1, 'A made one call, and died with it')
    t.equal(await metric(b.metrics, /^order_cache_events_total\{result="stale",tier="\w+"\} (\d+)$/gm), 0, 'no poll failed and fell back on the kept order')
  })

  t.test('a state shorter than the lock period, reached just as the dead replica took the lease, still reaches every watcher on another replica', async (t) => {
    // B polls every second (the default CACHE_FRESH_MS): a paid phase of 4 s spans several of its polls
    const fleet = await deadHolderFleet(t)
    const { b } = fleet
    const { seen, everyoneHas, allEnded } = await watchOnB(t, fleet)
    await everyoneHas(1, 'every watcher told of the unpaid order')
    // A asks just after one of B's polls, so it takes the lease before the next one
    const polled = fleet.callsFor(2001)
    await until(() => fleet.callsFor(2001) > polled, { ...PATIENCE, what: 'one of B\'s polls answered' })
    const heldAt = await killWhileHolding(t, fleet, 2001)

    // the vendor's order is paid now, and stays paid for the paid phase only: 4 s of real time,
    // while a lease of the lock period (7 s from A's taking it) would still stand
    await fleet.advance(PAID_AFTER_MS)
    await until(() => seen.every((states) => states.length >= 2) || performance.now() - heldAt >= PAID_PHASE_MS, { ...PATIENCE, what: 'the paid phase over' })
    const paidForMs = performance.now() - heldAt
    t.ok(seen.every((states) => states.length >= 2), `every watcher told the order was paid ${Math.round(paidForMs)} ms after A took the lease, within the paid phase (${PAID_PHASE_MS} ms) and short of the lock period (${LOCK_MS} ms)`)
    // by their last state, not their count: a watcher that missed the paid phase fails below, not here
    const everyoneAt = async (state: string, what: string) => {
      await until(() => seen.every((states) => states.at(-1) === state), { ...PATIENCE, what })
    }
    await fleet.advance(PAID_PHASE_MS)
    await everyoneAt(RUN[2]!, 'every watcher told it is dispensing')
    await fleet.advance(FINISHED_AFTER_MS - DISPENSING_AFTER_MS)
    await everyoneAt(RUN[3]!, 'every watcher told it was dispensed')
    await until(allEnded, { ...PATIENCE, what: 'every stream ended' })

    t.same(seen.filter((states) => states.join('|') !== RUN.join('|')), [], `all ${seen.length} watchers saw the whole run, the short paid phase too, each state once, in order`)
    t.equal(fleet.stalledCalls(), 1, 'A made one call, and died with it')
    t.equal(await metric(b.metrics, /^order_cache_events_total\{result="stale",tier="\w+"\} (\d+)$/gm), 0, 'no poll failed and fell back on the kept order')
  })
})
