import t from 'tap'
import { AppError } from '../../../src/errors/catalogue.js'
import type { Outcome, Served } from '../../../src/orders/outcome.js'
import type { ReadOptions } from '../../../src/orders/read-through.js'
import type { Order } from '../../../src/orders/schema.js'
import type { WatchBus } from '../../../src/orders/live/bus.js'
import type { WatchEvent } from '../../../src/orders/live/fan-out.js'
import { createWatchers } from '../../../src/orders/live/watchers.js'
import { createMemoryCallTokens } from '../../../src/shared-state/memory/call-budget.js'
import { createMemoryWatchBus } from '../../../src/shared-state/memory/watch-bus.js'
import { createCallBudget } from '../../../src/upstream/call-budget.js'
import { halfSecondBucket } from '../../fixtures/budget.js'
import { fakeClock } from '../../fixtures/clock.js'
import { QUIET } from '../../fixtures/logger.js'
import { order } from '../fixtures/read-through.js'

/** Watchers over a scripted orders service: `answer` sets what the next asks get; `asks` records each (refresh or not). */
function setup (options: { intervalMs?: number, bus?: WatchBus } = {}) {
  const clock = fakeClock()
  const asks: Array<{ id: number, refresh: boolean }> = []
  let answer: () => Served | Promise<Served> = () => served(order(1))
  const watchers = createWatchers({
    getOrder: async (id: number, _machine: string, _log: unknown, read?: ReadOptions) => {
      asks.push({ id, refresh: read?.refresh === true })
      return await answer()
    },
    log: QUIET,
    intervalMs: options.intervalMs ?? 1000,
    bus: options.bus ?? createMemoryWatchBus(),
    clock
  })
  const events: WatchEvent[] = []
  const record = (event: WatchEvent) => { events.push(event) }
  return { clock, asks, watchers, events, record, answer: (next: () => Served | Promise<Served>) => { answer = next } }
}

const served = (o: Order, result: Served['result'] = 'miss'): Served => ({ outcome: { kind: 'order', order: o, storedAt: 0, freshMs: 1000 }, result, tier: 'vendor' })
const withStatus = (status: Order['status'], terminal = false): Order => ({ ...order(1, terminal), status })
const statusOf = (event: WatchEvent | undefined) => event?.type === 'change' && event.outcome.kind === 'order' ? event.outcome.order.status : event?.type

t.test('one poller per key for any number of watchers; told only of changes', async (t) => {
  const { clock, asks, watchers, events, record, answer } = setup()
  const seen2: WatchEvent[] = []
  watchers.watch(1, '16327129', record)
  watchers.watch(1, '16327129', (event) => { seen2.push(event) })
  await clock.advance(0)
  t.equal(asks.length, 1, 'the first ask is at once, for both')
  t.same(events.map(statusOf), ['NOTPAY'])
  t.same(seen2.map(statusOf), ['NOTPAY'])
  await clock.advance(3000)
  t.equal(asks.length, 4, 'then once per interval')
  t.same(events.map(statusOf), ['NOTPAY'], 'an unchanged order is not told again')
  answer(() => served(withStatus('SUCCESS')))
  await clock.advance(1000)
  t.same(events.map(statusOf), ['NOTPAY', 'SUCCESS'])
  t.equal(watchers.size, 1)
})

t.test('a watcher that has the current tag is told only what follows', async (t) => {
  const { clock, watchers, events, record, answer } = setup()
  const first: WatchEvent[] = []
  watchers.watch(1, '16327129', (event) => { first.push(event) })
  await clock.advance(0)
  const tag = first[0]?.type === 'change' ? first[0].tag : ''
  watchers.watch(1, '16327129', record, tag)
  await clock.advance(1000)
  t.same(events, [])
  answer(() => served(withStatus('SUCCESS')))
  await clock.advance(1000)
  t.same(events.map(statusOf), ['SUCCESS'])
})

t.test('the poller stops at a terminal order, and when the last watcher leaves', async (t) => {
  const { clock, asks, watchers, events, record, answer } = setup()
  watchers.watch(1, '16327129', record)
  await clock.advance(0)
  answer(() => served(withStatus('SUCCESS', true)))
  await clock.advance(1000)
  t.same(events.map(statusOf), ['NOTPAY', 'SUCCESS'])
  await clock.advance(10_000)
  t.equal(asks.length, 2, 'no ask after the terminal order')

  const leaving = watchers.watch(2, '16327129', record)
  await clock.advance(0)
  const before = asks.length
  leaving()
  await clock.advance(10_000)
  t.equal(asks.length, before, 'no ask once nobody watches')
  t.equal(clock.pending(), 0, 'no timer left')
})

t.test('a final error is told once and stops the poller; other errors back off and tell nothing', async (t) => {
  const { clock, asks, watchers, events, record, answer } = setup()
  watchers.watch(1, '16327129', record)
  await clock.advance(0)
  answer(() => { throw new AppError('UPSTREAM_TIMEOUT') })
  const at = asks.length
  await clock.advance(1000) // fails: next in 2 s
  await clock.advance(2000) // fails: next in 4 s
  await clock.advance(4000) // fails: next in 8 s
  t.equal(asks.length - at, 3, 'exponential backoff while the vendor fails')
  t.same(events.map(statusOf), ['NOTPAY'], 'watchers keep what they have')
  await clock.advance(7999)
  t.equal(asks.length - at, 3)
  await clock.advance(1)
  t.equal(asks.length - at, 4)
  answer(() => served(order(1), 'stale'))
  await clock.advance(16_000)
  await clock.advance(30_000)
  t.equal(asks.length - at, 6, 'a stale answer counts as failing; the backoff is capped at 30 s')
  answer(() => { throw new AppError('ORDER_NOT_FOUND', { vendorCode: 80002 }) })
  await clock.advance(30_000)
  t.match(events.at(-1), { type: 'change', outcome: { kind: 'error', error: { code: 'ORDER_NOT_FOUND' } }, result: 'bypass', tier: 'vendor' }, 'thrown, so not kept: the cache is off')
  const final = asks.length
  await clock.advance(60_000)
  t.equal(asks.length, final, 'no ask after a final error')
})

t.test('wake: an immediate refresh of every watched machine of that order, bounded per key', async (t) => {
  const { clock, asks, watchers, events, record, answer } = setup({ intervalMs: 60_000 })
  watchers.watch(1, '16327129', record)
  watchers.watch(1, '16327130', () => {})
  watchers.watch(2, '16327129', () => {})
  await clock.advance(0)
  t.equal(asks.length, 3)
  answer(() => served(withStatus('SUCCESS')))
  watchers.bus.publishWake(1)
  await clock.advance(0)
  t.same(asks.slice(3), [{ id: 1, refresh: true }, { id: 1, refresh: true }], 'both machines of order 1, forced')
  t.same(events.map(statusOf), ['NOTPAY', 'SUCCESS'])
  for (let i = 0; i < 100; i++) watchers.bus.publishWake(1)
  await clock.advance(249)
  t.equal(asks.length, 5, 'a flood waits out the bound')
  await clock.advance(1)
  t.equal(asks.length, 7, 'then one refresh per key for the whole flood')
  await clock.advance(1000)
  t.equal(asks.length, 7)
})

t.test('a wake during a poll refreshes once that poll is done', async (t) => {
  const { clock, asks, watchers, answer } = setup({ intervalMs: 60_000 })
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  answer(async () => { await gate; return served(order(1)) })
  watchers.watch(1, '16327129', () => {})
  await clock.advance(0)
  watchers.bus.publishWake(1)
  release()
  await clock.advance(250)
  t.same(asks, [{ id: 1, refresh: false }, { id: 1, refresh: true }], 'the poll in flight may have started before the change')
})

t.test('close tells every watcher and stops every poller', async (t) => {
  const { clock, watchers, events, record } = setup()
  watchers.watch(1, '16327129', record)
  await clock.advance(0)
  watchers.close()
  t.same(events.map(statusOf), ['NOTPAY', 'closed'])
  t.equal(clock.pending(), 0)
  const late: WatchEvent[] = []
  watchers.watch(2, '16327129', (event) => { late.push(event) })
  t.same(late, [{ type: 'closed' }], 'a watch after close is told at once')
})

t.test('the bus: changes published elsewhere reach local watchers, deduplicated by tag; wakes arrive through it', async (t) => {
  const bus = createMemoryWatchBus()
  const published: string[] = []
  const spy: WatchBus = {
    ...bus,
    publishChange: (key, outcome) => { published.push(key); bus.publishChange(key, outcome) }
  }
  const { clock, asks, watchers, events, record } = setup({ bus: spy, intervalMs: 60_000 })
  watchers.watch(1, '16327129', record)
  await clock.advance(0)
  t.same(published, ['1:16327129'], 'a change goes out on the bus')
  const fromElsewhere: Outcome = { kind: 'order', order: withStatus('SUCCESS'), storedAt: 0, freshMs: 1000 }
  bus.publishChange('1:16327129', fromElsewhere)
  bus.publishChange('1:16327129', fromElsewhere)
  t.same(events.map(statusOf), ['NOTPAY', 'SUCCESS'], 'another replica\'s change, once')
  bus.publishWake(1)
  await clock.advance(0)
  t.same(asks.at(-1), { id: 1, refresh: true }, 'a wake from the bus refreshes')
})

t.test('a change says how it was got: the poller\'s result and tier, or another replica\'s call through the shared state', async (t) => {
  const bus = createMemoryWatchBus()
  const { clock, watchers, events, record, answer } = setup({ bus })
  answer(() => ({ ...served(order(1), 'hit'), tier: 'memory' }))
  watchers.watch(1, '16327129', record)
  await clock.advance(0)
  t.match(events, [{ type: 'change', result: 'hit', tier: 'memory' }])
  answer(() => served(withStatus('SUCCESS')))
  await clock.advance(1000)
  t.match(events.at(-1), { type: 'change', outcome: { order: { status: 'SUCCESS' } }, result: 'miss', tier: 'vendor' })
  bus.publishChange('1:16327129', { kind: 'order', order: withStatus('PAYERROR'), storedAt: 0, freshMs: 1000 })
  t.match(events.at(-1), { type: 'change', outcome: { order: { status: 'PAYERROR' } }, result: 'coalesced', tier: 'redis' })
  t.equal(events.length, 3)
})

t.test('a poll\'s vendor-call line goes out at debug; its warnings and errors stay as they are', async (t) => {
  const clock = fakeClock()
  const lines: Array<[string, string]> = []
  const record = (level: string) => (_obj: object, msg: string) => { lines.push([level, msg]) }
  const watchers = createWatchers({
    getOrder: async (_id: number, _machine: string, log) => {
      log.info({ vendor: { outcome: 'ok' } }, 'vendor call')
      log.warn({}, 'vendor was slow')
      return served(order(1))
    },
    log: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
    intervalMs: 1000,
    bus: createMemoryWatchBus(),
    clock
  })
  t.teardown(() => { watchers.close() })
  const unwatch = watchers.watch(1, '16327129', () => {})
  await clock.advance(0)
  unwatch()
  t.same(lines, [['debug', 'vendor call'], ['warn', 'vendor was slow']])
})

/**
 * Watchers over a vendor behind a budget of `perSecond` (this process's bucket) on the fake clock,
 * with their polls taking turns as the app sets them up: `calls` records each call the budget
 * admitted, by order id, priority and time.
 */
function budgeted (perSecond: number, intervalMs = 1000) {
  const clock = fakeClock()
  const budget = createCallBudget({
    tokens: createMemoryCallTokens(halfSecondBucket(perSecond), clock.now),
    now: clock.now,
    sleep: (ms) => new Promise((resolve) => { clock.setTimer(resolve, ms) })
  })
  const calls: Array<{ id: number, priority: string, at: number }> = []
  const getOrder = async (id: number, _machine: string, _log: unknown, read: ReadOptions = {}) => {
    const priority = read.priority ?? 'request'
    await budget.admit(priority, clock.now() + 5000)
    read.onAdmitted?.()
    calls.push({ id, priority, at: clock.now() })
    return served(order(id))
  }
  const intervals: number[] = []
  const watchers = createWatchers({ getOrder, log: QUIET, intervalMs, bus: createMemoryWatchBus(), clock, takeTurns: true, onPollInterval: (ms) => intervals.push(ms) })
  /** moves the clock in 10 ms steps, letting every poll's promises settle at each */
  const run = async (ms: number) => {
    for (let left = ms; left > 0; left -= 10) {
      await clock.advance(Math.min(10, left))
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  return { clock, watchers, calls, getOrder, run, intervals }
}

t.test('more orders watched than the budget allows: at most the budget, every order polled in turn, none more than the others', async (t) => {
  const { watchers, calls, run, intervals } = budgeted(10)
  for (let id = 1; id <= 50; id++) watchers.watch(id, '16327129', () => {})
  await run(20_000)
  const sorted = [...intervals].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)]!
  t.ok(median >= 4000 && median <= 6000, `the stretched interval reported (watched_order_poll_interval_seconds): median ${median} ms, about 50 / 10 = 5 s`)
  t.equal(intervals.length, calls.length - 50, 'one per answered poll but each order\'s first')
  const perSecond = Array.from({ length: 20 }, (_, s) => calls.filter(({ at }) => at >= s * 1000 && at < (s + 1) * 1000).length)
  t.ok(perSecond.every((n) => n <= 10 + 5), `at most the rate and the burst in any second: ${perSecond.join(' ')}`)
  t.ok(calls.length <= 5 + 10 * 20, `${calls.length} calls in 20 s: within burst + 10 × 20`)
  t.ok(calls.length >= 10 * 20 - 10, 'and the budget is used')
  const polls = Array.from({ length: 50 }, (_, i) => calls.filter(({ id }) => id === i + 1).length)
  t.ok(Math.min(...polls) >= 3, `every order polled, each about every 50 / 10 = 5 s: ${polls.join(' ')}`)
  t.ok(Math.max(...polls) - Math.min(...polls) <= 1, 'round robin: no order polled more than once more than another')
  t.ok(calls.every(({ priority }) => priority === 'background'))
})

t.test('within the budget, an order is still polled every interval', async (t) => {
  const { watchers, calls, run, intervals } = budgeted(10)
  for (let id = 1; id <= 5; id++) watchers.watch(id, '16327129', () => {})
  await run(10_000)
  t.same([...new Set(intervals)], [1000], 'and reports CACHE_FRESH_MS as its interval')
  for (let id = 1; id <= 5; id++) {
    const at = calls.filter((call) => call.id === id).map((call) => call.at)
    const gaps = new Set(at.slice(1).map((ms, i) => ms - at[i]!))
    t.ok(at[0]! <= 200, `order ${id} first polled at ${at[0]} ms: the three background may take at once, then one every 100 ms`)
    t.same([...gaps], [1000], `order ${id}: then every second (${at.length} polls)`)
  }
})

t.test('while the polls use up the budget, a request and a wake-up are called at once, ahead of them', async (t) => {
  const { clock, watchers, calls, getOrder, run } = budgeted(10)
  for (let id = 1; id <= 50; id++) watchers.watch(id, '16327129', () => {})
  await run(5000)
  const before = calls.length
  await getOrder(999, '16327129', QUIET)
  t.match(calls.at(-1), { id: 999, priority: 'request', at: clock.now() }, 'the request: no wait')
  watchers.bus.publishWake(50)
  await run(10)
  t.match(calls.slice(before + 1).find(({ id }) => id === 50), { priority: 'wake' }, 'the wake-up\'s refresh, without waiting for order 50\'s turn')
})
