import t, { type Test } from 'tap'
import { FAST_PINGS_TO_RECOVER, SLOW_IN_A_ROW, SLOW_LOG_EVERY_MS, watchLatency } from '../../../src/shared-state/redis/latency.js'
import type { RedisLink } from '../../../src/shared-state/redis/link.js'
import { fakeClock } from '../../fixtures/clock.js'

const SLOW_MS = 50

/** A link that is up, whose commands and PINGs take as long as the test says, on a fake clock. */
function watched (t: Test) {
  const timers = fakeClock()
  let spent = 0
  let pingMs = 200
  // the clock the round trips are measured on: the fake timers' time, plus what the commands took
  const clock = { now: () => timers.now() + spent, setTimer: timers.setTimer, clearTimer: timers.clearTimer }
  const lines: Array<[string, Record<string, unknown>, string]> = []
  const log = { info: (obj: object, msg: string) => { lines.push(['info', obj as Record<string, unknown>, msg]) }, warn: (obj: object, msg: string) => { lines.push(['warn', obj as Record<string, unknown>, msg]) } }
  const link = {
    isUp: () => true,
    client: { ping: async () => { spent += pingMs; return 'PONG' } },
    onDown: () => {},
    reportFailure: () => {},
    close: async () => {}
  } as unknown as RedisLink
  const slow: boolean[] = []
  const downs: number[] = []
  const timedLink = watchLatency(link, { slowMs: SLOW_MS, log, clock, onSlow: (next) => { slow.push(next) } })
  timedLink.onDown(() => { downs.push(timers.now()) })
  t.teardown(() => timedLink.close())
  const command = async (ms: number) => { await timedLink.timed('get', async () => { spent += ms }) }
  return { link: timedLink, timers, command, lines, slow, downs, setPing: (ms: number) => { pingMs = ms } }
}

t.test('Redis counts as slow after SLOW_IN_A_ROW commands over REDIS_SLOW_MS, not after one', async (t) => {
  const { link, command, lines, slow, downs } = watched(t)
  for (let i = 0; i < 10; i++) {
    await command(200)
    await command(2)
  }
  t.ok(link.isUp(), 'a slow answer now and then is not a slow Redis')
  for (let i = 0; i < SLOW_IN_A_ROW; i++) await command(200)
  t.notOk(link.isUp(), 'the request path stops waiting on it')
  t.ok(link.isSlow())
  t.same(slow, [true])
  t.equal(downs.length, 1, 'waiters are told, as when Redis goes down')
  t.match(lines, [['warn', { redis: 'slow', roundTripMs: 200, slowMs: SLOW_MS }, /slower than REDIS_SLOW_MS/]], 'one warning')
  for (let i = 0; i < 10; i++) await command(200)
  t.equal(lines.length, 1, 'however many slow commands follow')
})

t.test('a PING a second decides when it is fast again: FAST_PINGS_TO_RECOVER in a row under REDIS_SLOW_MS', async (t) => {
  const { link, timers, command, lines, slow, setPing } = watched(t)
  for (let i = 0; i < SLOW_IN_A_ROW; i++) await command(200)
  await timers.advance(5000)
  t.notOk(link.isUp(), 'still slow while the PINGs are')
  setPing(2)
  await timers.advance(1000 * (FAST_PINGS_TO_RECOVER - 1))
  t.notOk(link.isUp(), 'one fast PING is not enough')
  await timers.advance(1000)
  t.ok(link.isUp(), 'shared again')
  t.same(slow, [true, false])
  t.match(lines.map(([level, obj]) => [level, obj.redis]), [['warn', 'slow'], ['info', 'fast']])
  t.equal(timers.pending(), 0, 'no PING while fast')
})

t.test('slow episodes are logged at most once a minute; the next line counts those left out', async (t) => {
  const { timers, command, lines, slow, setPing } = watched(t)
  for (let episode = 0; episode < 4; episode++) {
    setPing(200)
    for (let i = 0; i < SLOW_IN_A_ROW; i++) await command(200)
    setPing(2)
    await timers.advance(1000 * FAST_PINGS_TO_RECOVER)
  }
  t.equal(slow.length, 8, 'four episodes')
  t.match(lines.map(([level, obj]) => [level, obj.redis]), [['warn', 'slow'], ['info', 'fast']], 'the first logged, start and end')
  await timers.advance(SLOW_LOG_EVERY_MS)
  for (let i = 0; i < SLOW_IN_A_ROW; i++) await command(200)
  t.match(lines[2], ['warn', { redis: 'slow', unloggedEpisodes: 3 }])
})
