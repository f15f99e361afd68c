import { Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import { BENCH_SIGNING_KEY, firstAnswer, setVendorLatency, startOtlpSink, startService, TERMINAL_MS } from './contestants.js'
import { paced, saturate } from './load.js'
import type { BenchOptions } from './options.js'
import { freePort, SERVICE_NODE_FLAGS, stopProcess, type Started } from '../scripts/processes.js'
import { REDIS_SERVER, REDIS_SERVER_INSTALL, redisServerInstalled, startRedisServer, type RedisServer } from '../scripts/redis-server.js'
import { LOCAL_SHARE_OF_FRESHNESS } from '../src/shared-state/redis/outcome-store.js'
import type { Row, TargetResult } from './report.js'
import { alternate, log, summarize, type Contestant, type Drive } from './rounds.js'
import { FAN_IN_LATENCY_MS, LIVE_ORDER, ratio, TERMINAL_ORDER, TERMINAL_ORDER_ID, withProcesses, type ScenarioResult } from './scenarios.js'

// The scenarios of a fleet sharing Redis (REDIS_URL): two replicas polling one order through a
// slow vendor, and the cache-hit path with Redis against the in-memory cache. Each starts its own
// redis-server (Debian's binary) on a free port and stops it after; without the binary they are
// skipped with a note, or fail when REQUIRE_REDIS=1 (as .ci/run sets it).

const CLUSTER_SCENARIOS = ['two-replica-fan-in', 'redis-cache-hit', 'production'] as const

/** With Redis, a replica's own copy of an outcome kept before its subscription broke answers for this share of its freshness */
const LOCAL_SHARE = `1/${Math.round(1 / LOCAL_SHARE_OF_FRESHNESS)}`

/** How a replica's memory answers with Redis, for the notes. */
const NEAR_CACHE_NOTE = 'With REDIS_URL a replica\'s own copy of an outcome answers for its whole freshness while its subscription to Redis holds, ' +
  `every change being published to it (the near cache, src/shared-state/redis/outcome-store.ts); a copy kept before the subscription broke answers for the first ${LOCAL_SHARE}, then Redis does.`

/** A service process and where its metrics are, to read which tier answered. */
interface Replica extends Started {
  metricsUrl: string
}

/** The scenarios of this module that the options ask for, in order. */
export async function clusterScenarios (options: BenchOptions, simulator: Started): Promise<ScenarioResult[]> {
  const wanted = CLUSTER_SCENARIOS.filter((name) => options.scenarios.has(name))
  if (wanted.length === 0) return []
  if (!redisServerInstalled()) {
    if (process.env.REQUIRE_REDIS === '1') throw new Error(`${REDIS_SERVER} not found, and REQUIRE_REDIS=1 asks for the Redis scenarios (${wanted.join(', ')})`)
    const note = `${wanted.join(' and ')}: skipped, ${REDIS_SERVER} is not installed. ${REDIS_SERVER_INSTALL}.`
    log(note)
    return [{ rows: [], targets: [], notes: [note] }]
  }
  const results: ScenarioResult[] = []
  if (options.scenarios.has('two-replica-fan-in')) results.push(await twoReplicaFanIn(options, simulator))
  if (options.scenarios.has('redis-cache-hit')) results.push(await redisCacheHit(options, simulator))
  if (options.scenarios.has('production')) results.push(await productionConfiguration(options, simulator))
  return results
}

/**
 * The service with its metrics on a port of its own. Both contestants of a scenario get the
 * same settings but REDIS_URL: a 1 s rate-limit window keeps the limiter (and, with Redis, its
 * round trip) on every request while the one client address the load comes from never runs
 * out of its million-request budget, shared or not.
 */
async function startReplica (simulator: Started, options: BenchOptions, redis?: { url: string, prefix: string }, env: Record<string, string> = {}): Promise<Replica> {
  const metricsPort = await freePort()
  const started = await startService(simulator, options, true, SERVICE_NODE_FLAGS, {
    env: {
      METRICS_PORT: String(metricsPort),
      METRICS_HOST: '127.0.0.1',
      RATE_LIMIT_WINDOW_MS: '1000',
      // one signing key for the replicas of a run: without it each process would sign with its own, and share nothing
      ...redis === undefined ? {} : { REDIS_URL: redis.url, REDIS_KEY_PREFIX: redis.prefix, REDIS_SIGNING_KEY: BENCH_SIGNING_KEY },
      ...env
    }
  })
  return Object.assign(started, { metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` })
}

/** Every process of a contestant gets its share of the connections at once. */
const everyReplica = (path: string, connections: number): Drive => async (_url, seconds, contestant) =>
  await saturate([contestant.process, ...contestant.replicas ?? []].map((p) => p.url + path), connections, seconds)

/**
 * Counters of the replicas' metrics, summed: answers by `result/tier` (order_cache_events_total),
 * and non-2xx answers by `HTTP status` (http_request_duration_seconds_count).
 */
type Counters = Map<string, number>

async function scrape (replica: Replica): Promise<string> {
  return await (await fetch(replica.metricsUrl)).text()
}

async function counters (replicas: Replica[]): Promise<Counters> {
  const counted: Counters = new Map()
  const add = (key: string, value: string): void => { counted.set(key, (counted.get(key) ?? 0) + Number(value)) }
  for (const replica of replicas) {
    for (const match of (await scrape(replica)).matchAll(/^(order_cache_events_total|http_request_duration_seconds_count)\{([^}]*)\} (\S+)$/gm)) {
      const labels = Object.fromEntries([...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
      if (match[1] === 'order_cache_events_total') add(`${labels.result}/${labels.tier}`, match[3]!)
      else if (!String(labels.status).startsWith('2')) add(`HTTP ${labels.status}`, match[3]!)
    }
  }
  return counted
}

/** Waits until every replica says it reached Redis (redis_up 1): it starts, and is ready, without it. */
async function redisUp (replicas: Replica[]): Promise<void> {
  for (const replica of replicas) {
    for (let tries = 0; !/^redis_up 1$/m.test(await scrape(replica)); tries++) {
      if (tries === 100) throw new Error(`${replica.name} did not reach Redis in 10 s:\n${replica.output()}`)
      await sleep(100)
    }
  }
}

/** Commands and CPU seconds Redis has served so far, from INFO (the bench's own INFO calls left out). */
interface RedisStats {
  commands: Map<string, number>
  cpu: number
}

async function redisStats (client: Redis): Promise<RedisStats> {
  // INFO without a section leaves commandstats out
  const info = await client.info('everything')
  const commands = new Map<string, number>()
  for (const match of info.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) {
    if (match[1] !== 'info') commands.set(match[1]!, Number(match[2]))
  }
  const cpu = ['used_cpu_sys', 'used_cpu_user'].reduce((sum, field) => sum + Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0), 0)
  return { commands, cpu }
}

/** A phase's counters, read before and after it, as one line per contestant for the notes. */
class Tally {
  private counted: Counters[] = []
  private stats: RedisStats | undefined
  constructor (private readonly contestants: Array<{ name: string, replicas: Replica[] }>, private readonly client: Redis) {}

  async start (): Promise<void> {
    this.counted = await Promise.all(this.contestants.map(async ({ replicas }) => await counters(replicas)))
    this.stats = await redisStats(this.client)
  }

  /** Which tier answered, in shares of each contestant's answers; and what Redis did per answer of the contestants using it. */
  async finish (usingRedis: string): Promise<string> {
    const after = await Promise.all(this.contestants.map(async ({ replicas }) => await counters(replicas)))
    const stats = await redisStats(this.client)
    let redisAnswers = 0
    const parts = this.contestants.map(({ name }, index) => {
      const before = this.counted[index]!
      const delta = [...after[index]!].map(([key, count]) => [key, count - (before.get(key) ?? 0)] as const).filter(([, count]) => count > 0)
      const served = delta.filter(([key]) => !key.startsWith('HTTP '))
      const refused = delta.filter(([key]) => key.startsWith('HTTP '))
      const total = served.reduce((sum, [, count]) => sum + count, 0)
      if (name === usingRedis) redisAnswers = total
      const shares = served.sort((a, b) => b[1] - a[1]).map(([key, count]) => `${key} ${percent(count / total)}`)
      const statuses = refused.length === 0 ? '' : ` (and non-2xx answers: ${refused.map(([key, count]) => `${key} × ${count}`).join(', ')})`
      return `${name}: ${total} orders served, ${shares.join(', ')}${statuses}`
    })
    const commands = [...stats.commands]
      .map(([name, calls]) => [name, calls - (this.stats?.commands.get(name) ?? 0)] as const)
      .filter(([, calls]) => calls > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([name, calls]) => `${name.toUpperCase()} ${calls / redisAnswers < 0.0005 ? '< 0.001' : (calls / redisAnswers).toFixed(3)}`)
    const cpu = (stats.cpu - (this.stats?.cpu ?? 0)) / redisAnswers * 1e6
    // INFO counts the commands a script runs too: the limiter's EVALSHA runs INCR and PTTL (and PEXPIRE once a window)
    return `${parts.join('; ')}. Redis commands per answer of "${usingRedis}" (INFO commandstats, a script's own commands included): ${commands.join(', ')}; ${cpu.toFixed(1)} µs of redis-server CPU`
  }
}

const percent = (share: number): string => share >= 0.001 || share === 0 ? `${(share * 100).toFixed(1)}%` : `${(share * 100).toPrecision(1)}%`

/**
 * From now on, the times a replica logs that it lost Redis: then it answers alone until Redis is
 * back, and the figures are not all the fleet's. Returns the note to add, if any.
 */
function watchLosses (scenario: string, replicas: Replica[]): () => string[] {
  const from = replicas.map((replica) => replica.lines.length)
  return () => {
    const losses = replicas.flatMap((replica, index) => replica.lines.slice(from[index]).filter((line) => line.redis === 'down').map((line) => String(line.reason ?? line.msg)))
    return losses.length === 0
      ? []
      : [`${scenario}: **a replica lost Redis ${losses.length} time(s) during the load** (${[...new Set(losses)].join('; ')}): until it was back (checked every second) it answered from its own memory, so these figures mix shared and unshared behaviour.`]
  }
}

async function withRedis<T> (body: (redis: RedisServer, client: Redis) => Promise<T>): Promise<T> {
  const redis = await startRedisServer()
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 })
  try {
    return await body(redis, client)
  } finally {
    client.disconnect()
    await redis.kill()
  }
}

/**
 * 200 connections spread over two replicas polling one live order through a 100 ms vendor:
 * with Redis the cluster should call the vendor about once per fresh TTL, as one process does;
 * each alone, each replica calls it, so about twice as often.
 */
export async function twoReplicaFanIn (options: BenchOptions, simulator: Started): Promise<ScenarioResult> {
  const label = `two-replica fan-in, ${FAN_IN_LATENCY_MS} ms vendor`
  log(`two-replica fan-in: ${options.fanInConnections} connections over two replicas polling order 54, vendor latency ${FAN_IN_LATENCY_MS} ms; sharing Redis vs each alone`)
  return await withRedis(async (redis, client) => {
    const shared = { url: redis.url, prefix: `bench-fan-in-${redis.port}:` }
    await setVendorLatency(simulator, FAN_IN_LATENCY_MS)
    try {
      return await withProcesses([
        async () => await startReplica(simulator, options, shared),
        async () => await startReplica(simulator, options, shared),
        async () => await startReplica(simulator, options),
        async () => await startReplica(simulator, options)
      ], async (replicas) => {
        const [shared1, shared2, alone1, alone2] = replicas as [Replica, Replica, Replica, Replica]
        await redisUp([shared1, shared2])
        const losses = watchLosses('two-replica fan-in', [shared1, shared2])
        for (const replica of replicas) await firstAnswer(replica, LIVE_ORDER)
        const names = { shared: 'two replicas sharing Redis', alone: 'two replicas, each alone (no REDIS_URL)' }
        const tally = new Tally([{ name: names.shared, replicas: [shared1, shared2] }, { name: names.alone, replicas: [alone1, alone2] }], client)
        await tally.start()
        const [s, a] = await alternate([
          { name: names.shared, process: shared1, replicas: [shared2], simulator },
          { name: names.alone, process: alone1, replicas: [alone2], simulator }
        ], options, everyReplica(LIVE_ORDER, options.fanInConnections))
        const tiers = await tally.finish(names.shared)
        const rowS = summarize(label, names.shared, s!)
        const rowA = summarize(label, names.alone, a!)
        const limit = 1000 / options.freshMs + 1
        const calls = rowS.vendorCallsPerS ?? Number.NaN
        const alone = rowA.vendorCallsPerS ?? Number.NaN
        return {
          rows: [rowS, rowA],
          targets: [
            {
              target: `two-replica fan-in vendor calls/s, Redis shared, while serving ${rowS.rps.toFixed(0)} req/s`,
              measured: `${calls.toFixed(1)} (${(calls / rowS.rps).toPrecision(2)} per client request)`,
              goal: `≤ ${limit.toFixed(1)} (1/TTL + 1)`,
              pass: calls <= limit
            },
            { target: 'two-replica fan-in vendor calls/s, each alone ÷ Redis shared', measured: `${ratio(alone, calls)} (${alone.toFixed(1)} vs ${calls.toFixed(1)})`, goal: 'reported (expected ≈ 2×)' },
            { target: 'two-replica fan-in req/s, Redis shared ÷ each alone', measured: ratio(rowS.rps, rowA.rps), goal: 'reported' }
          ],
          notes: [
            `two-replica fan-in: ${options.fanInConnections} autocannon connections, half to each replica at once; vendor calls counted at the simulator (every replica's). ` +
              `${NEAR_CACHE_NOTE} CACHE_FRESH_MS=${options.freshMs}. Answers by result/tier over the rounds (warm-up included; order_cache_events_total): ${tiers}.`,
            ...losses()
          ]
        }
      })
    } finally {
      await setVendorLatency(simulator, 0)
    }
  })
}

/**
 * The cache-hit load against one service with REDIS_URL and one with the in-memory cache, on the
 * terminal order (fresh 5 min), then on the live order, fresh for CACHE_FRESH_MS. With Redis
 * both are memory hits while the replica's subscription holds (the near cache), and a Redis hit
 * once a copy's freshness is up. Which tier answered is read from each service's metrics, not assumed.
 */
export async function redisCacheHit (options: BenchOptions, simulator: Started): Promise<ScenarioResult> {
  log(`redis cache hit: service with REDIS_URL vs service with its in-memory cache, order ${TERMINAL_ORDER_ID} (terminal), then order 54 (fresh ${options.freshMs} ms)`)
  return await withRedis(async (redis, client) => {
    const prefix = `bench-cache-hit-${redis.port}:`
    return await withProcesses([
      async () => await startReplica(simulator, options, { url: redis.url, prefix }),
      async () => await startReplica(simulator, options)
    ], async ([withRedisUrl, inMemory]) => {
      await redisUp([withRedisUrl!])
      const losses = watchLosses('redis cache hit', [withRedisUrl!])
      const names = { redis: 'service, REDIS_URL set', memory: 'service, in-memory cache' }
      const contestants: Contestant[] = [
        { name: names.redis, process: withRedisUrl!, simulator },
        { name: names.memory, process: inMemory!, simulator }
      ]
      const tally = new Tally([{ name: names.redis, replicas: [withRedisUrl!] }, { name: names.memory, replicas: [inMemory!] }], client)
      const rows: Row[] = []
      const targets: TargetResult[] = []
      const notes: string[] = []

      /** One load against both, alternating; rows, the two ratios and the tier note. */
      async function phase (label: string, path: string, drive: Drive): Promise<{ r: Row, m: Row }> {
        await tally.start()
        const [rr, mm] = await alternate(contestants, options, drive)
        notes.push(`${label}: answers by result/tier over the rounds (warm-up included; order_cache_events_total): ${await tally.finish(names.redis)}.`)
        const r = summarize(label, names.redis, rr!)
        const m = summarize(label, names.memory, mm!)
        rows.push(r, m)
        targets.push(
          { target: `${label}: req/s with REDIS_URL ÷ in-memory`, measured: ratio(r.rps, m.rps), goal: 'reported' },
          { target: `${label}: p99 with REDIS_URL ÷ in-memory`, measured: `${ratio(r.p99, m.p99)} (${r.p99.toFixed(2)} vs ${m.p99.toFixed(2)} ms)`, goal: 'reported' }
        )
        return { r, m }
      }

      for (const replica of [withRedisUrl!, inMemory!]) await firstAnswer(replica, TERMINAL_ORDER)
      await phase(`redis cache hit, order ${TERMINAL_ORDER_ID} (terminal)`, TERMINAL_ORDER, async (url, seconds) => await saturate(url + TERMINAL_ORDER, options.connections, seconds))

      for (const replica of [withRedisUrl!, inMemory!]) await firstAnswer(replica, LIVE_ORDER)
      const live = await phase(`redis cache hit, order 54 (fresh ${options.freshMs} ms)`, LIVE_ORDER, async (url, seconds) => await saturate(url + LIVE_ORDER, options.connections, seconds))

      // latency without queueing: the same steady rate for both, half of what the slower sustained
      const rate = Math.max(1, Math.round(Math.min(live.r.rps, live.m.rps) / 2))
      log(`redis cache hit, order 54 at a steady ${rate} req/s (half the slower one's maximum)`)
      await phase(`redis cache hit, order 54 at ${rate} req/s`, LIVE_ORDER, async (url, seconds) => await paced(url + LIVE_ORDER, rate, options.connections, seconds))

      notes.push(
        'redis cache hit: both services have the same settings but REDIS_URL, and a 1 s rate-limit window of a million requests (never reached): with Redis, the limiter\'s count is a Redis round trip on every request (EVALSHA), as in a fleet. ' +
          `${NEAR_CACHE_NOTE} The terminal order is fresh for ${TERMINAL_MS / 60_000} min; the steady-rate rounds use the live order, which is asked of Redis or the vendor once a second.`,
        ...losses()
      )
      return { rows, targets, notes }
    })
  })
}

/** Capacity is what is measured: no 503 from load shedding on this shared machine, for either. */
const UNSHED = { MAX_EVENT_LOOP_DELAY_MS: '0' }

/** The bench's API key: both contestants get it on every request; the demo configuration ignores it. */
const BENCH_API_KEY = 'bench-api-key-0123456789abcdef0123456789abcdef'

/**
 * The configuration the README recommends for a fleet against the in-memory demo configuration,
 * in one run: REDIS_URL, API_KEYS, the rate limit (a Redis round trip per request), tracing at 1%
 * to an OTLP sink, and metrics; on the terminal order, then on order 54, fresh for
 * CACHE_FRESH_MS. Both get the same Authorization header and the same 1 s rate-limit window
 * of a million requests (never reached).
 */
export async function productionConfiguration (options: BenchOptions, simulator: Started): Promise<ScenarioResult> {
  log(`production configuration: REDIS_URL, API_KEYS, rate limit, tracing 1% and metrics vs the in-memory demo configuration, order ${TERMINAL_ORDER_ID} (terminal), then order 54 (fresh ${options.freshMs} ms)`)
  const sink = await startOtlpSink()
  try {
    return await withRedis(async (redis) => {
      const production = {
        API_KEYS: BENCH_API_KEY,
        OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
        OTEL_SERVICE_NAME: 'vending-orders-bff-bench',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.01'
      }
      return await withProcesses([
        async () => await startReplica(simulator, options, { url: redis.url, prefix: `bench-production-${redis.port}:` }, { ...production, ...UNSHED }),
        async () => await startReplica(simulator, options, undefined, UNSHED)
      ], async ([fleet, demo]) => {
        await redisUp([fleet!])
        const headers = { authorization: `Bearer ${BENCH_API_KEY}` }
        const names = { fleet: 'service, production configuration', demo: 'service, demo configuration (in memory)' }
        const contestants: Contestant[] = [
          { name: names.fleet, process: fleet!, simulator },
          { name: names.demo, process: demo!, simulator }
        ]
        const rows: Row[] = []
        const targets: TargetResult[] = []
        for (const [label, path] of [[`production, order ${TERMINAL_ORDER_ID} (terminal)`, TERMINAL_ORDER], [`production, order 54 (fresh ${options.freshMs} ms)`, LIVE_ORDER]] as const) {
          for (const replica of [fleet!, demo!]) {
            const res = await fetch(replica.url + path, { headers })
            if (res.status !== 200) throw new Error(`${replica.name}: HTTP ${res.status} on ${path}`)
          }
          const [ff, dd] = await alternate(contestants, options, async (url, seconds) => await saturate(url + path, options.connections, seconds, headers))
          const f = summarize(label, names.fleet, ff!)
          const d = summarize(label, names.demo, dd!)
          rows.push(f, d)
          targets.push({ target: `${label}: req/s, production ÷ demo configuration`, measured: ratio(f.rps, d.rps), goal: '≥ 0.85×', pass: f.rps >= 0.85 * d.rps })
        }
        return {
          rows,
          targets,
          notes: ['production configuration: both services run NODE_ENV=production with the same settings but these: REDIS_URL, API_KEYS (every request carries the key, also to the demo one, which ignores it), and OTEL_* for tracing at 1% (parentbased_traceidratio 0.01) to an OTLP sink; metrics are on in both, load shedding off in both (MAX_EVENT_LOOP_DELAY_MS=0: capacity is measured).']
        }
      })
    })
  } finally {
    await stopProcess(sink)
  }
}
