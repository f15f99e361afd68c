import { parseArgs } from 'node:util'
import type { Outcome } from '../src/orders/outcome.js'
import type { Order } from '../src/orders/schema.js'
import { createMemoryOutcomeStore } from '../src/shared-state/memory/outcome-store.js'
import { createRedisCoalescing } from '../src/shared-state/redis/coalescing.js'
import { watchLatency } from '../src/shared-state/redis/latency.js'
import { createRedisLink, type LinkLog } from '../src/shared-state/redis/link.js'
import { createRedisOutcomeStore } from '../src/shared-state/redis/outcome-store.js'
import { createRejections } from '../src/shared-state/redis/rejections.js'
import { createSigner } from '../src/shared-state/redis/signing.js'
import { REDIS_SERVER, redisServerInstalled, startRedisServer } from '../scripts/redis-server.js'
import { BENCH_SIGNING_KEY } from './contestants.js'
import { percentile, sortedSamples } from './stats.js'

// `node dist/bench/invalidation-delay.js [--messages N]`: the near cache's invalidation delay
// (docs/performance.md). Two replicas' outcome stores and coalescing, wired as
// src/shared-state/redis/shared-state.ts wires them, on a redis-server of their own. Replica A
// makes N vendor calls (one key each, the work answering at once), one after the other; each
// is timed from the moment A's work has the outcome to the moment B's memory keeps it: A's
// seal and PUBLISH, Redis's delivery, B's signature check, schema read and store. While that
// message is on its way, B still answers its older copy. Both replicas share this process and
// its event loop, idle otherwise: a replica busy with requests adds its event-loop lag.

const QUIET: LinkLog = { info () {}, warn () {} }
const PREFIX = 'bench-invalidation:'
const FRESHNESS = { freshMs: 1000, terminalMs: 300_000, notFoundMs: 2000 }
const WARM_UP = 100

/** An order as the normalizer makes one: three lines, as the simulator's orders have. */
function anOrder (id: number): Order {
  const items = [0, 1, 2].map((i) => ({ id: id * 10 + i, productId: 121 + i, quantity: 1, price: '1.00', status: 'IS_DELIVERING' as const, notifySent: true }))
  return { id, tradeId: `T${id}`, date: '2026-12-01 10:00:00', amount: '3.00', status: 'SUCCESS', notifySendCount: 1, pickupCodeId: null, terminal: false, items }
}

/** One replica's outcome store and coalescing on the Redis at url; `onHeard` is told after a heard outcome is kept. */
async function replica (url: string, onHeard: (key: string) => void = () => {}) {
  const link = watchLatency(createRedisLink({ url, keyPrefix: PREFIX, commandTimeoutMs: 1000 }, QUIET), { slowMs: 1000, log: QUIET })
  const signer = createSigner({ current: BENCH_SIGNING_KEY }, PREFIX)
  const limits = { freshness: FRESHNESS, now: Date.now }
  const reject = createRejections({ log: QUIET, now: Date.now, onRejected: (reason) => { throw new Error(`rejected: ${reason}`) } })
  const local = createMemoryOutcomeStore({ maxEntries: 100_000, maxBytes: 256 * 1024 * 1024, now: Date.now })
  const store = createRedisOutcomeStore({ link, local, staleMs: 60_000, signer, limits, reject })
  const coalescing = createRedisCoalescing({
    link,
    lockMs: 7000,
    now: Date.now,
    signer,
    limits,
    reject,
    onOutcome: (key, outcome) => {
      store.remember(key, outcome)
      onHeard(key)
    }
  })
  await link.connect()
  if (!link.isUp()) throw new Error('Redis not reachable')
  return { link, store, coalescing }
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { messages: { type: 'string', default: '1000' } } })
  const messages = Number(values.messages)
  if (!redisServerInstalled()) throw new Error(`${REDIS_SERVER} not found`)
  const redis = await startRedisServer()
  const waiting = new Map<string, (at: number) => void>()
  try {
    const a = await replica(redis.url)
    const b = await replica(redis.url, (key) => { waiting.get(key)?.(performance.now()) })
    const delays: number[] = []
    for (let i = 1; i <= WARM_UP + messages; i++) {
      const key = `${i}:16327129`
      const heard = new Promise<number>((resolve) => { waiting.set(key, resolve) })
      let ready = 0
      await a.coalescing(key, async () => {
        const outcome: Outcome = { kind: 'order', order: anOrder(i), storedAt: Date.now(), freshMs: FRESHNESS.freshMs }
        ready = performance.now()
        return outcome
      })
      const at = await heard
      waiting.delete(key)
      if ((await b.store.get(key))?.tier !== 'memory') throw new Error(`${key}: heard, but not answered from B's memory`)
      if (i > WARM_UP) delays.push(at - ready)
    }
    const sorted = sortedSamples(delays)
    const ms = (p: number): string => percentile(sorted, p).toFixed(3)
    process.stdout.write(`invalidation delay over ${messages} outcomes (after ${WARM_UP} not counted), from A's outcome to B's memory: ` +
      `p50 ${ms(50)} ms, p90 ${ms(90)} ms, p99 ${ms(99)} ms, max ${ms(100)} ms\n`)
    await Promise.all([a.link.close(), b.link.close()])
  } finally {
    await redis.kill()
  }
}

await main()
