import t, { type Test } from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import { CallDeferred } from '../../src/upstream/call-budget.js'
import type { VendorClient } from '../../src/upstream/client.js'
import { orderQuery, type VendorOrder } from '../../src/upstream/endpoints/order-query.js'
import { createResilientVendor, type ResilientVendorOptions } from '../../src/upstream/resilient.js'
import { until } from '../fixtures/until.js'
import { QUIET } from '../fixtures/logger.js'

const POLICIES = {
  retry: { maxRetries: 0, baseDelayMs: 50, budgetRatio: 1, budgetFloor: 100 },
  breaker: { thresholdPercent: 50, minCalls: 10_000, windowMs: 10_000, cooldownMs: 10_000 },
  vendorConcurrency: 1,
  vendorQueue: 5
}

/**
 * The resilient vendor with VENDOR_TIMEOUT_MS=2000 on a fake clock (a backoff advances it, by
 * `timerLateMs` more than asked), over a client that records when each call started and the
 * deadline it was given, and answers with `behave`.
 */
function setup (t: Test, behave: (clock: { now: number }) => Promise<VendorOrder>, options: Partial<ResilientVendorOptions> = {}, timerLateMs = 0) {
  const clock = { now: 0 }
  const calls: Array<{ at: number, timeoutMs: number }> = []
  const client: VendorClient = {
    call: async (_endpoint, _params, callOptions = {}) => {
      calls.push({ at: clock.now, timeoutMs: callOptions.timeoutMs ?? Infinity })
      return await behave(clock) as never
    },
    close: async () => {}
  }
  const vendor = createResilientVendor(client, { ...POLICIES, timeoutMs: 2000, now: () => clock.now, sleep: async (ms) => { clock.now += ms + timerLateMs }, ...options })
  t.teardown(vendor.shutdown)
  return { clock, calls, vendor, getOrder: (id: number) => vendor.call(orderQuery, { orderId: id, machineNo: '16327129' }, QUIET) }
}

const flush = () => new Promise((resolve) => setImmediate(resolve))

/** One slot, two calls: the first holds the slot for `waitMs` of the fake clock, the second waits for it. */
async function secondWaitsForSlot (t: Test, waitMs: number) {
  let release!: () => void
  const { clock, calls, getOrder } = setup(t, async () => {
    if (calls.length === 1) await new Promise<void>((resolve) => { release = resolve })
    return { order_id: 54 }
  })
  const first = getOrder(54)
  const second = getOrder(55)
  await flush()
  clock.now += waitMs
  release()
  return { calls, first, second }
}

t.test('a call that waited for a slot gets what is left of VENDOR_TIMEOUT_MS, not all of it', async (t) => {
  const { calls, first, second } = await secondWaitsForSlot(t, 700)
  await Promise.all([first, second])
  t.same(calls, [{ at: 0, timeoutMs: 2000 }, { at: 700, timeoutMs: 1300 }])
})

t.test('a slot that frees after the deadline: 503 UPSTREAM_BUSY, and the vendor is not called', async (t) => {
  const { calls, first, second } = await secondWaitsForSlot(t, 2500)
  await first
  await t.rejects(second, { code: 'UPSTREAM_BUSY', retryAfter: 1 })
  t.equal(calls.length, 1)
})

t.test('retries and their backoff stay within the one deadline', async (t) => {
  const unreachable = async (clock: { now: number }) => { clock.now += 300; throw new AppError('UPSTREAM_UNREACHABLE') }
  const { calls, getOrder } = setup(t, unreachable, { retry: { ...POLICIES.retry, maxRetries: 5, baseDelayMs: 200 }, random: () => 0.999 })
  await t.rejects(getOrder(54), { code: 'UPSTREAM_UNREACHABLE' })
  t.equal(calls.length, 3, 'the third backoff would end past the deadline')
  for (const call of calls) t.ok(call.timeoutMs > 0 && call.at + call.timeoutMs <= 2000, `started at ${call.at} with ${call.timeoutMs} ms`)
})

t.test('a backoff timer that fires past the deadline starts no attempt; the vendor\'s failure is the answer', async (t) => {
  const unreachable = async (clock: { now: number }) => { clock.now += 300; throw new AppError('UPSTREAM_UNREACHABLE') }
  // the backoff is planned to end at 1948, and its timer fires 100 ms late
  const { calls, getOrder } = setup(t, unreachable, { retry: { ...POLICIES.retry, maxRetries: 5, baseDelayMs: 1650 }, random: () => 0.999 }, 100)
  await t.rejects(getOrder(54), { code: 'UPSTREAM_UNREACHABLE' })
  t.equal(calls.length, 1)
})

t.test('a retry is logged with what the endpoint says about the call; an endpoint that is not idempotent is never retried', async (t) => {
  const unreachable = async () => { throw new AppError('UPSTREAM_UNREACHABLE') }
  const lines: Array<[object, string]> = []
  const log = { ...QUIET, info: (obj: object, msg: string) => { lines.push([obj, msg]) } }
  const { calls, vendor } = setup(t, unreachable, { retry: { ...POLICIES.retry, maxRetries: 1, baseDelayMs: 10 }, random: () => 0.5 })

  await t.rejects(vendor.call(orderQuery, { orderId: 54, machineNo: '16327129' }, log), { code: 'UPSTREAM_UNREACHABLE' })
  t.equal(calls.length, 2, 'the query: retried once')
  t.same(lines, [[{ vendor: { orderId: 54, retry: 1, after: 'Upstream unreachable' } }, 'retrying vendor call']])

  const payment = { ...orderQuery, idempotent: false }
  await t.rejects(vendor.call(payment, { orderId: 54, machineNo: '16327129' }, log), { code: 'UPSTREAM_UNREACHABLE' })
  t.equal(calls.length, 3, 'sent once: a second one could act twice')
  t.equal(lines.length, 1)
})

t.test('each change of the breaker\'s state is logged once: open with the fault\'s code, half-open, closed', async (t) => {
  const lines: Array<{ obj: Record<string, unknown>, msg: string, level: string }> = []
  const log = {
    info: (obj: object, msg: string) => { lines.push({ obj: obj as Record<string, unknown>, msg, level: 'info' }) },
    warn: (obj: object, msg: string) => { lines.push({ obj: obj as Record<string, unknown>, msg, level: 'warn' }) }
  }
  let failing = true
  const { getOrder } = setup(t, async () => {
    if (failing) throw new AppError('UPSTREAM_TIMEOUT')
    return { order_id: 54 }
  }, { breaker: { thresholdPercent: 50, minCalls: 2, windowMs: 10_000, cooldownMs: 50 }, log })
  for (let i = 0; i < 4; i++) await getOrder(54).catch(() => {})
  t.match(lines, [{ level: 'warn', obj: { breaker: 'open', code: 'UPSTREAM_TIMEOUT', cooldownMs: 50 } }], 'opened once, however many calls it then refused')
  await t.rejects(getOrder(54), { code: 'UNAVAILABLE' }, 'refused while open')
  t.equal(lines.length, 1)
  // the cool-down runs on opossum's own timer
  await until(() => lines.length === 2, { what: 'the half-open line' })
  t.match(lines[1], { level: 'info', obj: { breaker: 'halfOpen' } })
  failing = false
  await getOrder(54)
  t.match(lines[2], { level: 'info', obj: { breaker: 'closed' } })
  t.equal(lines.length, 3)
})

/** The bucket's takes as a script: each take answers the next wait (0: taken), and is recorded with whether it was a background one. */
function scriptedTokens (waits: number[]) {
  const takes: boolean[] = []
  return { takes, tokens: { take: async (background: boolean) => { takes.push(background); return waits.shift() ?? 0 } } }
}

t.test('every attempt takes a call from the budget, retries included', async (t) => {
  const { takes, tokens } = scriptedTokens([])
  const unreachable = async () => { throw new AppError('UPSTREAM_UNREACHABLE') }
  const { calls, getOrder } = setup(t, unreachable, { retry: { ...POLICIES.retry, maxRetries: 2, baseDelayMs: 10 }, random: () => 0.5, callTokens: tokens })
  await t.rejects(getOrder(54), { code: 'UPSTREAM_UNREACHABLE' })
  t.equal(calls.length, 3)
  t.same(takes, [false, false, false], 'three attempts, three calls from the budget')
})

t.test('a retry the budget has no call for is not made: the failure it would have retried is the answer', async (t) => {
  const { takes, tokens } = scriptedTokens([0, 200])
  const refused: string[] = []
  const unreachable = async () => { throw new AppError('UPSTREAM_UNREACHABLE') }
  const { calls, getOrder } = setup(t, unreachable, {
    retry: { ...POLICIES.retry, maxRetries: 2, baseDelayMs: 10 },
    random: () => 0.5,
    callTokens: tokens,
    events: { onRefused: (priority) => { refused.push(priority) } }
  })
  await t.rejects(getOrder(54), { code: 'UPSTREAM_UNREACHABLE' }, 'not UPSTREAM_BUDGET_SPENT')
  t.equal(calls.length, 1)
  t.equal(takes.length, 2)
  t.same(refused, ['request'])
})

t.test('a background call with no call left is put off: the vendor is not called, and nobody is told it was admitted', async (t) => {
  const { takes, tokens } = scriptedTokens([150])
  const { calls, vendor } = setup(t, async () => ({ order_id: 54 }), { callTokens: tokens })
  let admitted = 0
  const ticket = { priority: 'background' as const, onAdmitted: () => { admitted += 1 } }
  const deferred = await vendor.call(orderQuery, { orderId: 54, machineNo: '16327129' }, QUIET, ticket).catch((error: unknown) => error)
  t.ok(deferred instanceof CallDeferred, 'a CallDeferred, not an AppError: no client is answered with it')
  t.equal((deferred as CallDeferred).retryInMs, 150)
  t.same(takes, [true], 'a background take')
  t.equal(calls.length, 0)
  t.equal(admitted, 0)
  t.same(await vendor.call(orderQuery, { orderId: 54, machineNo: '16327129' }, QUIET, { priority: 'request', onAdmitted: ticket.onAdmitted }), { order_id: 54 })
  t.equal(admitted, 1, 'told once the call got past the budget')
})

t.test('while the breaker is open, calls take nothing from the budget: the vendor is not called anyway', async (t) => {
  const { takes, tokens } = scriptedTokens([])
  const { getOrder } = setup(t, async () => { throw new AppError('UPSTREAM_TIMEOUT') }, { breaker: { thresholdPercent: 50, minCalls: 2, windowMs: 10_000, cooldownMs: 10_000 }, callTokens: tokens })
  for (let i = 0; i < 2; i++) await getOrder(54).catch(() => {})
  t.equal(takes.length, 2)
  await t.rejects(getOrder(54), { code: 'UNAVAILABLE' })
  await t.rejects(getOrder(54), { code: 'UNAVAILABLE' })
  t.equal(takes.length, 2, 'refused by the breaker, not counted against the budget')
})
