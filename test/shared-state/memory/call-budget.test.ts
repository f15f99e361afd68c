import t from 'tap'
import { createMemoryCallTokens } from '../../../src/shared-state/memory/call-budget.js'
import { budgetLimits } from '../../../src/upstream/call-budget.js'

/** The bucket of a budget of 10 a second (5 at once, 2 kept for requests and wake-ups), on a hand-moved clock. */
function bucket (perSecond = 10) {
  const clock = { now: 0 }
  return { clock, tokens: createMemoryCallTokens(budgetLimits(perSecond), () => clock.now) }
}

const takes = async (tokens: ReturnType<typeof bucket>['tokens'], n: number, background = false) => {
  const waits: number[] = []
  for (let i = 0; i < n; i++) waits.push(await tokens.take(background))
  return waits
}

t.test('it starts full: the burst at once, then the ms until the next call', async (t) => {
  const { clock, tokens } = bucket()
  t.same(await takes(tokens, 6), [0, 0, 0, 0, 0, 100], 'five, then one every 100 ms')
  clock.now = 40
  t.equal(await tokens.take(false), 60, 'the wait shrinks as the bucket refills')
  clock.now = 100
  t.equal(await tokens.take(false), 0)
  t.equal(await tokens.take(false), 100)
})

t.test('it refills at perSecond, never beyond the burst', async (t) => {
  const { clock, tokens } = bucket()
  await takes(tokens, 5)
  clock.now = 60_000
  t.same(await takes(tokens, 6), [0, 0, 0, 0, 0, 100], 'a minute idle still gives five at once, not 600')
})

t.test('a background take leaves the reserve, and its wait counts to the reserve and one', async (t) => {
  const { clock, tokens } = bucket()
  t.same(await takes(tokens, 4, true), [0, 0, 0, 100], 'three of five: two stay for requests and wake-ups')
  t.same(await takes(tokens, 3), [0, 0, 100], 'a request takes the two kept back')
  t.equal(await tokens.take(true), 300, 'a background take now needs three calls back in the bucket')
  clock.now = 300
  t.equal(await tokens.take(true), 0)
})

t.test('under constant demand it gives at most burst + perSecond × T calls in T seconds, and that many', async (t) => {
  const { clock, tokens } = bucket(20)
  let calls = 0
  // someone asks every 5 ms for 10 s
  for (clock.now = 0; clock.now <= 10_000; clock.now += 5) if (await tokens.take(clock.now % 10 === 0) === 0) calls += 1
  t.ok(calls <= 10 + 20 * 10, `${calls} calls`)
  t.ok(calls >= 20 * 10, 'the whole budget is used')
})

t.test('a budget of one call a second keeps nothing back: background takes the one call', async (t) => {
  const { tokens } = bucket(1)
  t.same(budgetLimits(1), { perSecond: 1, burst: 1, reserve: 0 })
  t.same(await takes(tokens, 2, true), [0, 1000])
})
