import t from 'tap'
import { createMemoryCallTokens } from '../../src/shared-state/memory/call-budget.js'
import { budgetLimits, CallDeferred, createCallBudget, type CallPriority, type CallTokens } from '../../src/upstream/call-budget.js'
import { fakeClock } from '../fixtures/clock.js'

/** A budget of `perSecond` on the fake clock, over this process's bucket; `looks` counts the bucket's takes, `events` what was put off or refused. */
function setup (perSecond: number) {
  const clock = fakeClock()
  const bucket = createMemoryCallTokens(budgetLimits(perSecond), clock.now)
  let looks = 0
  const tokens: CallTokens = { take: async (background) => { looks += 1; return await bucket.take(background) } }
  const events: Array<[string, CallPriority]> = []
  const budget = createCallBudget({
    tokens,
    now: clock.now,
    sleep: (ms) => new Promise((resolve) => { clock.setTimer(resolve, ms) }),
    events: { onDeferred: (priority) => { events.push(['deferred', priority]) }, onRefused: (priority) => { events.push(['refused', priority]) } }
  })
  /** admits, and says what became of it: admitted, deferred (with the ms to wait) or the error's code */
  const admit = (priority: CallPriority, deadlineAt = clock.now() + 5000, retry = false) => budget.admit(priority, deadlineAt, retry)
    .then(() => 'admitted', (error: unknown) => error instanceof CallDeferred ? `deferred ${error.retryInMs}` : (error as { code: string }).code)
  return { clock, admit, events, looks: () => looks }
}

t.test('the bucket of a budget: half a second of calls at once, half of those kept back', async (t) => {
  t.same(budgetLimits(20), { perSecond: 20, burst: 10, reserve: 5 })
  t.same(budgetLimits(10), { perSecond: 10, burst: 5, reserve: 2 })
  t.same(budgetLimits(3), { perSecond: 3, burst: 2, reserve: 1 })
  t.same(budgetLimits(1), { perSecond: 1, burst: 1, reserve: 0 })
  t.same(budgetLimits(0.5), { perSecond: 0.5, burst: 1, reserve: 0 }, 'a replica\'s share while Redis is down may be a fraction')
})

t.test('background polls leave the reserve: a request arriving then is called at once', async (t) => {
  const { admit, events } = setup(10)
  const background = []
  for (let i = 0; i < 4; i++) background.push(await admit('background'))
  t.same(background, ['admitted', 'admitted', 'admitted', 'deferred 100'], 'three of five, then put off until the bucket may have one above the reserve')
  t.equal(await admit('request'), 'admitted', 'the request takes a call kept back')
  t.equal(await admit('wake'), 'admitted', 'so does a wake-up')
  t.same(events, [['deferred', 'background']])
})

t.test('a request waits for a call, briefly: at most 1 s and half of what is left of its deadline', async (t) => {
  const { clock, admit, events } = setup(1)
  t.equal(await admit('request'), 'admitted')
  const waiting = admit('request')
  let settled = false
  waiting.then(() => { settled = true }, () => {})
  await clock.advance(999)
  t.notOk(settled, 'still waiting for the next call')
  await clock.advance(1)
  t.equal(await waiting, 'admitted', 'called once the bucket had one, at 1000 ms')
  t.equal(await admit('request', clock.now() + 1000), 'UPSTREAM_BUDGET_SPENT', 'the next call is 1000 ms away, beyond half of its 1000 ms deadline: refused at once')
  await clock.advance(500)
  t.equal(await admit('request', clock.now() + 800), 'UPSTREAM_BUDGET_SPENT', '500 ms away, half of its deadline is 400')
  const withinHalf = admit('request', clock.now() + 1000)
  await clock.advance(500)
  t.equal(await withinHalf, 'admitted', '500 ms away, half of its deadline is 500: it waits')
  // two wait for the one call 1000 ms away: the one that loses waits no longer than 1 s in all
  const first = admit('request')
  const second = admit('request')
  await clock.advance(1000)
  t.same(await Promise.all([first, second]), ['admitted', 'UPSTREAM_BUDGET_SPENT'])
  t.same(events, [['refused', 'request'], ['refused', 'request'], ['refused', 'request']])
})

t.test('while a request waits, background polls get nothing, even when the bucket refills above the reserve', async (t) => {
  const { clock, admit } = setup(2)
  t.equal(await admit('request'), 'admitted', 'a budget of 2 a second: one call at once, none kept back')
  const waiting = admit('request')
  await clock.advance(0)
  t.equal(await admit('background'), 'deferred 501', 'yields to the waiting request until just after its call')
  await clock.advance(500)
  t.equal(await waiting, 'admitted')
  t.match(await admit('background'), /^deferred/, 'the request had that call')
  await clock.advance(501)
  t.equal(await admit('background'), 'admitted')
})

t.test('once the bucket put off a background poll, the others are put off without asking it', async (t) => {
  const { clock, admit, looks } = setup(10)
  for (let i = 0; i < 3; i++) await admit('background')
  t.equal(await admit('background'), 'deferred 100')
  const asked = looks()
  const later = []
  for (let i = 0; i < 50; i++) later.push(await admit('background'))
  t.equal(looks(), asked, 'fifty polls, no look at the bucket')
  t.ok(later.every((result) => result === 'deferred 100'))
  await clock.advance(60)
  t.equal(await admit('background'), 'deferred 40', 'told the time left')
  await clock.advance(40)
  t.equal(await admit('background'), 'admitted')
})

t.test('a wake-up never waits: put off with the time until the next call, and background polls yield to it', async (t) => {
  const { clock, admit, events } = setup(1)
  t.equal(await admit('wake'), 'admitted')
  t.equal(await admit('wake'), 'deferred 1000')
  await clock.advance(1000)
  t.match(await admit('background'), /^deferred/, 'the wake-up, asking again now, comes first')
  t.equal(await admit('wake'), 'admitted')
  t.same(events.slice(0, 2), [['deferred', 'wake'], ['deferred', 'background']])
})

t.test('a retry takes a call only if one is there now, whatever its priority', async (t) => {
  const { admit, events } = setup(1)
  t.equal(await admit('request', undefined, true), 'admitted')
  for (const priority of ['request', 'wake', 'background'] as const) t.equal(await admit(priority, undefined, true), 'UPSTREAM_BUDGET_SPENT', priority)
  t.same(events, [['refused', 'request'], ['refused', 'wake'], ['refused', 'background']], 'counted as refused: it is not tried again')
})
