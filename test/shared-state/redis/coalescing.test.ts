import t, { type Test } from 'tap'
import { AppError } from '../../../src/errors/catalogue.js'
import type { Outcome } from '../../../src/orders/outcome.js'
import { createRedisCoalescing } from '../../../src/shared-state/redis/coalescing.js'
import { createRedisLink } from '../../../src/shared-state/redis/link.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { until } from '../../helper.js'
import { order } from '../../orders/fixtures/read-through.js'
import { QUIET } from '../../fixtures/logger.js'

const PREFIX = 'coalescing-test:'
const KEY = '54:16327129'
const OUTCOME: Outcome = { kind: 'order', order: order(54), storedAt: 1_700_000_000_000, freshMs: 1000 }

/** Work that starts, counts itself and finishes only when the test opens it. */
function gatedWork (finish: () => Promise<Outcome> = async () => OUTCOME) {
  let open!: () => void
  const opened = new Promise<void>((resolve) => { open = resolve })
  const work = { calls: 0, open: () => { open() }, run: async () => { work.calls++; await opened; return await finish() } }
  return work
}

/** Two replicas' coalescing on one Redis, and a plain client to watch what they do there. */
async function twoReplicas (t: Test) {
  const redis = await startRedisServer(t)
  const { Redis } = await import('ioredis')
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  const replica = async () => {
    const link = createRedisLink({ url: redis.url, keyPrefix: PREFIX, commandTimeoutMs: 250 }, QUIET)
    t.teardown(() => link.close())
    const told: string[] = []
    const coalesce = createRedisCoalescing({ link, lockMs: 5000, now: Date.now, onOutcome: (key) => { told.push(key) } })
    await link.connect()
    return { link, coalesce, told }
  }
  const a = await replica()
  const b = await replica()
  await until(async () => (await raw.pubsub('NUMSUB', `${PREFIX}outcomes`))[1] === 2)
  return {
    redis,
    a,
    b,
    /** resolves once the lock is held */
    held: async () => { await until(async () => await raw.exists(`${PREFIX}lock:${KEY}`) === 1) },
    /** resolves once `count` callers found the lock taken and wait for its holder's message */
    waiting: async (count: number) => { await until(async () => Number(/cmdstat_pttl:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0) >= count) },
    locked: async () => await raw.exists(`${PREFIX}lock:${KEY}`) === 1
  }
}

t.test('coalescing across replicas on Redis', async (t) => {
  if (!requireRedisServer(t)) return

  t.test('callers on two replicas, one work call: the holder\'s outcome is everyone\'s', async (t) => {
    const { a, b, held, waiting, locked } = await twoReplicas(t)
    const work = gatedWork()
    const first = a.coalesce(KEY, work.run)
    await held()
    const others = [b.coalesce(KEY, work.run), b.coalesce(KEY, work.run), a.coalesce(KEY, work.run)]
    await waiting(others.length)
    work.open()
    const [holder, ...waiters] = await Promise.all([first, ...others])
    t.equal(work.calls, 1, 'one vendor call')
    t.same(holder, { outcome: OUTCOME, tier: 'vendor' })
    t.same(waiters, others.map(() => ({ outcome: OUTCOME, tier: 'redis' })), 'the waiters got it through Redis')
    t.same([a.told, b.told], [[KEY], [KEY]], 'every replica is told the outcome, the holder\'s own included')
    t.notOk(await locked(), 'the lock is released')
  })

  t.test('the holder\'s failure is the waiters\' failure: same code, detail and Retry-After', async (t) => {
    const { a, b, held, waiting } = await twoReplicas(t)
    const offline = new AppError('MACHINE_OFFLINE', { detail: 'Machine 16327129 does not answer.', retryAfter: 30 })
    const work = gatedWork(async () => { throw offline })
    const first = a.coalesce(KEY, work.run)
    await held()
    const waiter = b.coalesce(KEY, work.run)
    await waiting(1)
    work.open()
    await Promise.all([
      t.rejects(first, offline),
      t.rejects(waiter, { code: 'MACHINE_OFFLINE', detail: 'Machine 16327129 does not answer.', retryAfter: 30 })
    ])
    t.equal(work.calls, 1)
    t.same(b.told, [], 'a failure is not an outcome to keep')
  })

  t.test('a failure not worth sharing: the waiter asks for itself', async (t) => {
    const { a, b, held, waiting } = await twoReplicas(t)
    const holderWork = gatedWork(async () => { throw new Error('socket hang up') })
    const first = a.coalesce(KEY, holderWork.run)
    await held()
    let waiterCalls = 0
    const waiter = b.coalesce(KEY, async () => { waiterCalls++; return OUTCOME })
    await waiting(1)
    holderWork.open()
    await t.rejects(first, /socket hang up/)
    t.same(await waiter, { outcome: OUTCOME, tier: 'vendor' })
    t.equal(waiterCalls, 1)
  })

  t.test('Redis lost while a replica waits: it stops waiting and runs the work itself', async (t) => {
    const { redis, a, b, held, waiting } = await twoReplicas(t)
    const holderWork = gatedWork()
    const first = a.coalesce(KEY, holderWork.run)
    await held()
    let waiterCalls = 0
    const waiter = b.coalesce(KEY, async () => { waiterCalls++; return OUTCOME })
    await waiting(1)
    await redis.kill()
    t.same(await waiter, { outcome: OUTCOME, tier: 'vendor' }, 'answered while the holder still works')
    t.equal(waiterCalls, 1)
    holderWork.open()
    t.same(await first, { outcome: OUTCOME, tier: 'vendor' }, 'the holder finishes without Redis too')
  })

  t.test('Redis down: every call runs its work in this process', async (t) => {
    const redis = await startRedisServer(t)
    await redis.kill()
    const link = createRedisLink({ url: redis.url, keyPrefix: PREFIX, commandTimeoutMs: 100 }, QUIET)
    t.teardown(() => link.close())
    const coalesce = createRedisCoalescing({ link, lockMs: 1000, now: Date.now })
    await link.connect()
    t.notOk(link.isUp())
    let calls = 0
    const work = async () => { calls++; return OUTCOME }
    t.same(await Promise.all([coalesce(KEY, work), coalesce(KEY, work)]), [{ outcome: OUTCOME, tier: 'vendor' }, { outcome: OUTCOME, tier: 'vendor' }])
    t.equal(calls, 2, 'no lock to share: read-through keeps it to one call per key in this process')
  })
})
