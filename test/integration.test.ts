import t, { type Test } from 'tap'
import { ORDER_EXAMPLE } from '../src/orders/schema.js'
import { buildSimulator, type SimulatorCredentials, type SimulatorOptions } from '../src/simulator/app.js'
import { DEMO_CREDENTIALS } from '../src/simulator/credentials.js'
import { DISPENSING_AFTER_MS, FINISHED_AFTER_MS, MACHINE, ORDER, PAID_AFTER_MS, RESTART_AFTER_MS } from '../src/simulator/scenarios.js'
import { fakeClock } from './fixtures/clock.js'
import { buildTestApp } from './helper.js'

/** The service against the simulator over real HTTP, with the demo credentials unless told otherwise. */
async function setup (t: Test, credentials: Partial<SimulatorCredentials> = {}, simulatorOptions: SimulatorOptions = {}) {
  const simulator = buildSimulator(simulatorOptions)
  t.teardown(() => simulator.close())
  const url = await simulator.listen({ host: '127.0.0.1', port: 0 })
  const app = await buildTestApp(t, url, { vendor: { baseUrl: url, ...DEMO_CREDENTIALS, ...credentials } })
  const get = async (id: number | string, machine: string) => {
    const res = await app.inject({ url: `/orders/${id}?machine=${machine}` })
    return { status: res.statusCode, body: res.json() }
  }
  return { simulator, get }
}

t.test('the documented example, end to end', async (t) => {
  const { get } = await setup(t)
  t.same(await get(ORDER.documented, MACHINE.documented), { status: 200, body: ORDER_EXAMPLE })
})

t.test('every scenario order normalizes into the contract', async (t) => {
  const { get } = await setup(t)
  const cases: Array<[number, string, Record<string, unknown>]> = [
    [1001, MACHINE.documented, { status: 'SUCCESS', terminal: true }],
    [1002, MACHINE.documented, { status: 'REFUND', terminal: true }],
    [1003, MACHINE.documented, { status: 'CLOSED', terminal: true, items: [{ status: null }] }],
    [1005, MACHINE.documented, { status: 'USERPAYING', terminal: false }],
    [1007, MACHINE.documented, { status: 'PICKUPCODE', pickupCodeId: 7001, terminal: false }],
    [1008, MACHINE.documented, { status: 'NOTPAY', notifySendCount: 0, terminal: false }],
    [1009, MACHINE.documented, { status: 'TESTPAY', terminal: true, items: [{ status: 'IS_FAILED' }, { status: 'IS_TIMEOUT' }] }],
    [ORDER.allZero, MACHINE.documented, { id: ORDER.allZero, tradeId: null, date: null, amount: '0.00', status: 'UNKNOWN', notifySendCount: 0, pickupCodeId: null, items: [] }],
    [ORDER.int64Strings, MACHINE.documented, { id: ORDER.int64Strings, items: [{ id: 10111 }] }],
    [ORDER.unlistedEnums, MACHINE.documented, { status: 'UNKNOWN', items: [{ status: 'UNKNOWN' }] }],
    [ORDER.special, MACHINE.special, { id: ORDER.special }]
  ]
  for (const [id, machine, expected] of cases) {
    const { status, body } = await get(id, machine)
    t.equal(status, 200, `order ${id}`)
    t.match(body, expected, `order ${id}`)
  }
})

t.test('vendor errors from the simulator map to their rows', async (t) => {
  const { get } = await setup(t)
  const cases: Array<[number, string, number, string, number]> = [
    [ORDER.unknown, MACHINE.documented, 404, 'ORDER_NOT_FOUND', 80002],
    [ORDER.documented, MACHINE.unknown, 404, 'MACHINE_NOT_FOUND', 30003],
    [ORDER.otherMachine, MACHINE.documented, 404, 'MACHINE_NOT_FOUND', 6007],
    [ORDER.expired, MACHINE.documented, 410, 'ORDER_EXPIRED', 40005],
    [ORDER.stateInvalid, MACHINE.documented, 409, 'ORDER_STATE_INVALID', 40006],
    [ORDER.documented, MACHINE.notOperating, 409, 'MACHINE_NOT_OPERATING', 30004],
    [ORDER.documented, MACHINE.offline, 503, 'MACHINE_OFFLINE', 30002]
  ]
  for (const [id, machine, status, code, vendorCode] of cases) {
    t.match(await get(id, machine), { status, body: { code, vendorCode } }, `order ${id} on ${machine}`)
  }
})

t.test('wrong credentials or sign key are 502 UPSTREAM_REJECTED, never 401', async (t) => {
  for (const [credentials, vendorCode] of [
    [{ appId: 'not-the-app-id' }, 10014],
    [{ appSecret: 'not-the-secret' }, 10013],
    [{ signKey: 'not-the-sign-key' }, 4006]
  ] as const) {
    const { get } = await setup(t, credentials)
    t.match(await get(ORDER.documented, MACHINE.documented), { status: 502, body: { code: 'UPSTREAM_REJECTED', vendorCode } })
  }
})

t.test('a progressing order moves from unpaid to dispensed as the simulator clock runs', async (t) => {
  let now = 1_000_000
  const { get } = await setup(t, {}, { now: () => now })
  const seen: Array<[string, unknown, boolean]> = []
  for (const at of [0, PAID_AFTER_MS, DISPENSING_AFTER_MS, FINISHED_AFTER_MS]) {
    now = 1_000_000 + at
    const { body } = await get(ORDER.progressingSuccess, MACHINE.documented)
    seen.push([body.status, body.items[0].status, body.terminal])
  }
  t.same(seen, [
    ['NOTPAY', null, false],
    ['SUCCESS', 'WAITING_PICKED_UP', false],
    ['SUCCESS', 'IS_DELIVERING', false],
    ['SUCCESS', 'IS_SUCCESS', true]
  ])
})

t.test('a finished clock order is a live run again once the simulator restarts it, though the service keeps final answers', async (t) => {
  const time = fakeClock()
  const simulator = buildSimulator({ now: time.now, scheduler: time.scheduler })
  t.teardown(() => simulator.close())
  const url = await simulator.listen({ host: '127.0.0.1', port: 0 })
  const token = 'the-demo-callback-token-0123456789'
  // the cache as deployed: a final answer is kept for CACHE_TERMINAL_MS
  const app = await buildTestApp(t, url, { vendor: { baseUrl: url, ...DEMO_CREDENTIALS }, callbackToken: token }, {}, { CACHE_ENABLED: 'true' })
  const service = await app.listen({ host: '127.0.0.1', port: 0 })
  simulator.simulator.setNotifyUrl(`${service}/callbacks/delivery/${token}`)
  const get = async () => {
    const res = await app.inject({ url: `/orders/${ORDER.progressingSuccess}?machine=${MACHINE.documented}` })
    return { status: res.json().status, line: res.json().items[0].status, terminal: res.json().terminal, cache: String(res.headers['cache-status']) }
  }

  t.match(await get(), { status: 'NOTPAY', terminal: false })
  await time.advance(FINISHED_AFTER_MS)
  t.match(await get(), { line: 'IS_SUCCESS', terminal: true }, 'the lines\' notifications: the service asks again')
  const kept = await get()
  t.match(kept, { line: 'IS_SUCCESS', terminal: true })
  t.match(kept.cache, /hit/, 'and keeps the final answer')
  await time.advance(RESTART_AFTER_MS)
  t.match(await get(), { status: 'NOTPAY', line: null, terminal: false }, 'the restart\'s notice: a live run, not the kept final answer')
  t.equal(simulator.simulator.stats.notifications.sent, 3, 'two lines and the restart')
})

t.test('simulator faults come back as their mapped problems', async (t) => {
  const { simulator, get } = await setup(t)
  for (const [fault, code] of [['reset', 'UPSTREAM_UNREACHABLE'], ['resetMidBody', 'UPSTREAM_UNREACHABLE'], ['garbage', 'UPSTREAM_BAD_RESPONSE'], ['html502', 'UPSTREAM_BAD_RESPONSE'], ['huge', 'UPSTREAM_BAD_RESPONSE']] as const) {
    simulator.simulator.setFaults({ force: fault })
    t.match(await get(ORDER.documented, MACHINE.documented), { status: 502, body: { code } }, fault)
  }
  simulator.simulator.setFaults({ force: { code: 6044, httpStatus: 403 } })
  t.match(await get(ORDER.documented, MACHINE.documented), { status: 502, body: { code: 'UPSTREAM_REJECTED', vendorCode: 6044 } })
})

t.test('a success with no order, or a wrong VENDOR_BASE_URL path, is 502 UPSTREAM_BAD_RESPONSE, never an invented order', async (t) => {
  const { simulator, get } = await setup(t)
  simulator.simulator.setFaults({ force: { code: 0 } })
  t.match(await get(ORDER.documented, MACHINE.documented), { status: 502, body: { code: 'UPSTREAM_BAD_RESPONSE' } }, 'code 0 with empty data')
  simulator.simulator.setFaults({ force: null })

  const other = buildSimulator()
  t.teardown(() => other.close())
  const url = await other.listen({ host: '127.0.0.1', port: 0 })
  const app = await buildTestApp(t, url, { vendor: { baseUrl: `${url}/wrong-prefix`, ...DEMO_CREDENTIALS } })
  const res = await app.inject({ url: `/orders/${ORDER.documented}?machine=${MACHINE.documented}` })
  t.equal(res.statusCode, 502)
  t.match(res.json(), { code: 'UPSTREAM_BAD_RESPONSE', detail: /HTTP 404.*VENDOR_BASE_URL/ })
})
