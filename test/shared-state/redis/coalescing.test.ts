import t, { type Test } from 'tap'
import { AppError } from '../../../src/errors/catalogue.js'
import type { Outcome } from '../../../src/orders/outcome.js'
import { createRedisCoalescing, MIN_LEASE_WAIT_MS, OUTCOMES_CHANNEL } from '../../../src/shared-state/redis/coalescing.js'
import { LEASE_MS } from '../../../src/shared-state/redis/lease-renewal.js'
import { sealMessage } from '../../../src/shared-state/redis/messages.js'
import { sharedFailureError } from '../../../src/shared-state/redis/shared-failure.js'
import { toStored } from '../../../src/shared-state/redis/outcome-codec.js'
import { requireRedisServer, startRedisServer } from '../../fixtures/redis-server.js'
import { startSlowProxy } from '../../fixtures/slow-proxy.js'
import { until } from '../../helper.js'
import { order } from '../../orders/fixtures/read-through.js'
import { replicaParts, signerFor } from './fixtures/trust.js'

const PREFIX = 'coalescing-test:'
const KEY = '54:16327129'
const LOCK = `${PREFIX}lock:${KEY}`
const OUTCOME: Outcome = { kind: 'order', order: order(54), storedAt: 1_700_000_000_000, freshMs: 1000 }
const LOCK_MS = 5000

/** Work that starts, counts itself and finishes only when the test opens it. */
function gatedWork (finish: () => Promise<Outcome> = async () => OUTCOME) {
  let open!: () => void
  const opened = new Promise<void>((resolve) => { open = resolve })
  const work = { calls: 0, open: () => { open() }, run: async () => { work.calls++; await opened; return await finish() } }
  return work
}

/** Commands Redis has run since the last CONFIG RESETSTAT, scripts' own included. */
async function commandsRun (raw: import('ioredis').Redis): Promise<number> {
  return [...(await raw.info('commandstats')).matchAll(/calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0)
}

/** Two replicas' coalescing on one Redis, and a plain client to watch what they do there. */
async function twoReplicas (t: Test) {
  const redis = await startRedisServer(t)
  const { Redis } = await import('ioredis')
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  const replica = async () => {
    const parts = await replicaParts(t, redis.url, PREFIX)
    const told: Outcome[] = []
    const coalesce = createRedisCoalescing({ ...parts, lockMs: LOCK_MS, now: Date.now, onOutcome: (_key, outcome) => { told.push(outcome) } })
    return { ...parts, coalesce, told }
  }
  const a = await replica()
  const b = await replica()
  await until(async () => (await raw.pubsub('NUMSUB', `${PREFIX}outcomes`))[1] === 2)
  return {
    redis,
    raw,
    a,
    b,
    /** resolves once the lock is held */
    held: async () => { await until(async () => await raw.exists(LOCK) === 1) },
    /** resolves once `count` callers found the lock taken and wait for its holder's message */
    waiting: async (count: number) => { await until(async () => Number(/cmdstat_get:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0) >= count) },
    locked: async () => await raw.exists(LOCK) === 1,
    /** publishes on the outcomes channel as a replica would, or as anyone with PUBLISH can */
    publish: async (message: string) => await raw.publish(`${PREFIX}${OUTCOMES_CHANNEL}`, message)
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
    await until(() => a.told.length === 1 && b.told.length === 1)
    t.same([a.told, b.told], [[OUTCOME], [OUTCOME]], 'every replica is told the outcome, the holder\'s own included')
    await until(async () => !await locked(), { what: 'the lock released after the answer' })
  })

  t.test('the holder\'s failure is the waiters\' failure: same code and Retry-After, in the waiter\'s own words', async (t) => {
    const { a, b, held, waiting } = await twoReplicas(t)
    const offline = new AppError('MACHINE_OFFLINE', { detail: 'Machine 16327129 does not answer.', retryAfter: 7 })
    const work = gatedWork(async () => { throw offline })
    const first = a.coalesce(KEY, work.run)
    await held()
    const waiter = b.coalesce(KEY, work.run)
    await waiting(1)
    work.open()
    await Promise.all([
      t.rejects(first, offline),
      t.rejects(waiter, { code: 'MACHINE_OFFLINE', detail: sharedFailureError({ code: 'MACHINE_OFFLINE' }).detail, retryAfter: 7 })
    ])
    t.equal(work.calls, 1)
    t.same(b.told, [], 'a failure is not an outcome to keep')
    t.same(b.reject.seen, [], 'this version\'s message taken by this version')
  })

  t.test('a signed failure with words of its own is no failure: dropped and counted, and its words reach no answer', async (t) => {
    const { a, b, held, waiting, publish } = await twoReplicas(t)
    const work = gatedWork()
    const first = a.coalesce(KEY, work.run)
    await held()
    const waiter = b.coalesce(KEY, work.run)
    await waiting(1)
    const fleet = signerFor(PREFIX)
    const now = Date.now()
    // as a replica of the version before sent them, or a bug, or whoever has the key
    const failures = [
      { code: 'UPSTREAM_TIMEOUT', detail: 'forged failure' },
      { code: 'UPSTREAM_TIMEOUT', retryAfter: 86_400 },
      { code: 'FORGED' }
    ]
    for (const failure of failures) await publish(sealMessage(fleet, OUTCOMES_CHANNEL, { key: KEY, failure }, now))
    await until(() => b.reject.seen.length === failures.length, { what: 'every such failure rejected' })
    t.same(b.reject.seen, failures.map(() => ['schema', 'outcomes message']))
    work.open()
    t.same(await waiter, { outcome: OUTCOME, tier: 'redis' }, 'the waiter still waits for the holder, and gets its outcome')
    t.same(await first, { outcome: OUTCOME, tier: 'vendor' })
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
    // told to the fleet as a holder's outcome is, so no replica's near cache keeps an older copy
    await until(() => a.told.length === 1, { what: 'the holder hearing the outcome the waiter got' })
    t.same(a.told[0]?.kind, OUTCOME.kind, 'the outcome the waiter got reaches the other replica')
    t.equal(a.told[0]?.storedAt, OUTCOME.storedAt)
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
    const parts = await replicaParts(t, redis.url, PREFIX, { commandTimeoutMs: 100 })
    const coalesce = createRedisCoalescing({ ...parts, lockMs: 1000, now: Date.now })
    t.notOk(parts.link.isUp())
    let calls = 0
    const work = async () => { calls++; return OUTCOME }
    t.same(await Promise.all([coalesce(KEY, work), coalesce(KEY, work)]), [{ outcome: OUTCOME, tier: 'vendor' }, { outcome: OUTCOME, tier: 'vendor' }])
    t.equal(calls, 2, 'no lock to share: read-through keeps it to one call per key in this process')
  })
  t.test('a forged PUBLISH on the outcomes channel wakes nobody and is kept nowhere', async (t) => {
    const { a, b, held, waiting, publish } = await twoReplicas(t)
    const work = gatedWork()
    const first = a.coalesce(KEY, work.run)
    await held()
    const waiter = b.coalesce(KEY, work.run)
    await waiting(1)
    const forged = { ...OUTCOME, order: { ...order(99), tradeId: 'FORGED', amount: '999.00' }, storedAt: Date.now(), freshMs: 315_360_000 }
    const fleet = signerFor(PREFIX)
    const now = Date.now()
    const messages = {
      // as the findings sent it: plain JSON, no signature
      unsigned: JSON.stringify({ key: KEY, outcome: toStored(KEY, forged), sentAt: now }),
      // signed, but with another key
      'another key': sealMessage(signerFor(PREFIX, 'not-the-fleet-key-0123456789abcdefgh'), OUTCOMES_CHANNEL, { key: KEY, outcome: toStored(KEY, forged) }, now),
      // signed for another channel
      'another channel': sealMessage(fleet, 'changes', { key: KEY, outcome: toStored(KEY, forged) }, now),
      // signed with the fleet's key (a bug, or a leaked key): order 99 is not the order of the key it claims
      'another order': sealMessage(fleet, OUTCOMES_CHANNEL, { key: KEY, outcome: toStored(KEY, forged) }, now),
      'ten years ahead': sealMessage(fleet, OUTCOMES_CHANNEL, { key: KEY, outcome: toStored(KEY, { ...OUTCOME, storedAt: now + 315_360_000_000 }) }, now),
      'sent ten years ago': sealMessage(fleet, OUTCOMES_CHANNEL, { key: KEY, outcome: toStored(KEY, OUTCOME) }, now - 315_360_000_000),
      'a failure, unsigned': JSON.stringify({ key: KEY, failure: { code: 'UPSTREAM_TIMEOUT', detail: 'forged' }, sentAt: now })
    }
    for (const message of Object.values(messages)) await publish(message)
    await until(() => b.reject.seen.length === Object.keys(messages).length, { what: 'every forged message rejected' })
    t.same(b.reject.seen.map(([reason]) => reason), ['signature', 'signature', 'signature', 'mismatch', 'future', 'expired', 'signature'])
    t.same([a.told, b.told], [[], []], 'nothing kept')
    work.open()
    t.same(await waiter, { outcome: OUTCOME, tier: 'redis' }, 'the waiter got the holder\'s outcome, nothing else')
    t.same(await first, { outcome: OUTCOME, tier: 'vendor' })
    t.equal(work.calls, 1)
  })

  t.test('a signed outcome claiming ten years of freshness is kept as long as this replica\'s CACHE_* allow', async (t) => {
    const { b, publish } = await twoReplicas(t)
    const now = Date.now()
    await publish(sealMessage(signerFor(PREFIX), OUTCOMES_CHANNEL, { key: KEY, outcome: toStored(KEY, { ...OUTCOME, storedAt: now, freshMs: 315_360_000_000 }) }, now))
    await until(() => b.told.length === 1)
    t.equal(b.told[0]!.freshMs, 1000, 'CACHE_FRESH_MS, not what the message says')
  })

  t.test('a lock nobody holds is taken over at once: no TTL, a TTL past the lease, another type, a token this fleet did not sign', async (t) => {
    const { raw, a } = await twoReplicas(t)
    const fleet = signerFor(PREFIX)
    const signed = (expiresAt: number) => fleet.seal(`lock:${KEY}`, `${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}.${expiresAt}`)
    const plants: Record<string, () => Promise<unknown>> = {
      'no TTL': async () => await raw.set(LOCK, 'nobody'),
      'an hour': async () => await raw.set(LOCK, 'nobody', 'PX', 3_600_000),
      // signed by the fleet's key, but a lease lives LEASE_MS at most, renewed or not
      'a signed token, an hour': async () => await raw.set(LOCK, signed(Date.now() + 3_600_000), 'PX', 3_600_000),
      // a valid token, but a lease of the version before: its whole lock period at once
      'a signed token, a TTL just past a lease': async () => await raw.set(LOCK, signed(Date.now() + LOCK_MS), 'PX', LEASE_MS + 100),
      'a hash': async () => await raw.hset(LOCK, 'holder', 'nobody'),
      'unsigned, a valid TTL': async () => await raw.set(LOCK, 'nobody', 'PX', LEASE_MS),
      'a signed token past its expiry': async () => await raw.set(LOCK, signed(Date.now() - 60_000), 'PX', LEASE_MS)
    }
    for (const [name, plant] of Object.entries(plants)) {
      await raw.del(LOCK)
      await plant()
      await raw.config('RESETSTAT')
      const calls = a.reject.seen.length
      let ran = 0
      const served = await a.coalesce(KEY, async () => { ran++; return OUTCOME })
      t.same([served, ran], [{ outcome: OUTCOME, tier: 'vendor' }, 1], `${name}: asked for itself at once`)
      t.ok(a.link.isUp(), `${name}: Redis still counts as up`)
      t.same(a.reject.seen.slice(calls).map(([, what]) => what), ['lease'], `${name}: counted once`)
      const commands = await commandsRun(raw)
      t.ok(commands <= 16, `${name}: ${commands} Redis commands`)
    }
    t.same(a.reject.seen.map(([reason]) => reason), ['ttl', 'ttl', 'ttl', 'ttl', 'wrongtype', 'signature', 'expired'])
  })

  t.test('a lease taken while the waiter\'s first look was on its way, its holder dead: the waiter takes it over once it runs out, it does not give up first', async (t) => {
    const redis = await startRedisServer(t)
    const { Redis } = await import('ioredis')
    const raw = new Redis(redis.url)
    t.teardown(() => raw.disconnect())
    // the waiter's commands and answers each take 300 ms on the way: its look lands after the holder took the lease
    const proxy = await startSlowProxy(t, redis.port, 0)
    const lockMs = 1000
    const holder = createRedisCoalescing({ ...await replicaParts(t, redis.url, PREFIX), lockMs, now: Date.now })
    const parts = await replicaParts(t, proxy.url, PREFIX, { commandTimeoutMs: 5000, latency: { slowMs: 5000 } })
    const waiter = createRedisCoalescing({ ...parts, lockMs, now: Date.now })
    await until(async () => (await raw.pubsub('NUMSUB', `${PREFIX}outcomes`))[1] === 2)
    proxy.setDelay(300)
    let ran = 0
    const waited = waiter(KEY, async () => { ran++; return OUTCOME })
    const dead = gatedWork()
    holder(KEY, dead.run).catch(() => {})
    await until(() => dead.calls === 1, { what: 'the holder at work, holding the lease' })
    t.same(await waited, { outcome: OUTCOME, tier: 'vendor' }, 'taken over, not UPSTREAM_TIMEOUT')
    t.equal(ran, 1, 'the waiter asked for itself')
    t.ok(parts.link.isUp(), 'a slow look is no Redis failure')
    dead.open()
  })

  t.test('a lease whose holder died: the wait lasts as long as the lease, polled never faster than MIN_LEASE_WAIT_MS', async (t) => {
    const { raw, a } = await twoReplicas(t)
    // a genuine lease of a replica that died: 300 ms left, then gone
    const token = signerFor(PREFIX).seal(`lock:${KEY}`, `${'1'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}.${Date.now() + 300}`)
    await raw.set(LOCK, token, 'PX', 300)
    await raw.config('RESETSTAT')
    let ran = 0
    t.same(await a.coalesce(KEY, async () => { ran++; return OUTCOME }), { outcome: OUTCOME, tier: 'vendor' }, 'taken over once it expired')
    t.equal(ran, 1)
    t.same(a.reject.seen, [], 'a genuine lease is no rejection')
    const leases = Number(/cmdstat_eval:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0)
    t.ok(leases <= Math.ceil(300 / MIN_LEASE_WAIT_MS) + 2, `${leases} lease scripts while waiting 300 ms`)
  })
})
