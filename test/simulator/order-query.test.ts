import t from 'tap'
import { buildSimulator } from '../../src/simulator/app.js'
import { DEMO_CREDENTIALS } from '../../src/simulator/credentials.js'
import { MACHINE, ORDER } from '../../src/simulator/scenarios.js'
import { encodePayload, signParams } from '../../src/upstream/signing.js'
import { envelopeOf, HEADERS, queryOrder, signedBody, TIMESTAMP } from './fixtures/vendor.js'
import { DOCUMENTED_VENDOR_ORDER } from '../fixtures/documented-order.js'

const app = buildSimulator()
t.teardown(() => app.close())

/** The vendor code and HTTP status of one query. */
async function outcome (orderId: number | string, machineNo: string, options: Parameters<typeof queryOrder>[3] = {}): Promise<[number, number]> {
  const response = await queryOrder(app, orderId, machineNo, options)
  return [response.statusCode, envelopeOf(response).code]
}

t.test('the documented example round trip, with zero fields left out', async (t) => {
  const payload = encodePayload({ machine_no: '16327129', timestamp: TIMESTAMP }, DEMO_CREDENTIALS.signKey)
  const response = await app.inject({
    method: 'POST',
    url: '/api/openapi/v1/orders/54',
    headers: { ...HEADERS, 'content-type': 'application/json' },
    payload: JSON.stringify({ payload })
  })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^application\/json/)
  t.strictSame(JSON.parse(response.body), {
    code: 0,
    message: 'ok',
    data: DOCUMENTED_VENDOR_ORDER
  })
  t.notOk('pickup_code_id' in JSON.parse(response.body).data, 'pickup_code_id 0 is left out')
})

t.test('a body sent without content-type is still read', async (t) => {
  const response = await app.inject({
    method: 'POST',
    url: '/api/openapi/v1/orders/54',
    headers: HEADERS,
    payload: Buffer.from(JSON.stringify(signedBody({ machine_no: '16327129', timestamp: TIMESTAMP })))
  })
  t.equal(envelopeOf(response).code, 0)
})

t.test('a payload built with empty parameters, left out as the Go library does, is accepted', async (t) => {
  const payload = encodePayload({ machine_no: '16327129', timestamp: TIMESTAMP, remark: '', coupon: null, channel: 'NULL' }, DEMO_CREDENTIALS.signKey)
  t.same(Object.keys(JSON.parse(Buffer.from(payload, 'base64').toString('utf8'))), ['machine_no', 'timestamp', 'sign'])
  const response = await app.inject({
    method: 'POST',
    url: '/api/openapi/v1/orders/54',
    headers: { ...HEADERS, 'content-type': 'application/json' },
    payload: JSON.stringify({ payload })
  })
  t.equal(envelopeOf(response).code, 0)
})

t.test('credential headers', async (t) => {
  const { appid, appsecret } = HEADERS
  t.same(await outcome(54, MACHINE.documented, { headers: {} }), [401, 10008], 'both missing')
  t.same(await outcome(54, MACHINE.documented, { headers: { appid } }), [401, 10008], 'AppSecret missing')
  t.same(await outcome(54, MACHINE.documented, { headers: { appsecret } }), [401, 10008], 'Appid missing')
  t.same(await outcome(54, MACHINE.documented, { headers: { appid: '', appsecret } }), [401, 10008], 'empty Appid')
  t.same(await outcome(54, MACHINE.documented, { headers: { appid: 'other-app', appsecret } }), [401, 10014], 'wrong Appid')
  t.same(await outcome(54, MACHINE.documented, { headers: { appid, appsecret: 'nope' } }), [401, 10013], 'wrong AppSecret')
  t.same(await outcome(54, MACHINE.documented, { headers: { appid, appsecret: appsecret + 'x' } }), [401, 10013], 'longer AppSecret')
  const response = await queryOrder(app, 54, MACHINE.documented, { headers: {} })
  t.equal(envelopeOf(response).data, null)
})

t.test('custom credentials replace the demo ones', async (t) => {
  const custom = { appId: 'a', appSecret: 's', signKey: 'k' }
  const own = buildSimulator({ credentials: custom })
  t.teardown(() => own.close())
  const headers = { appid: 'a', appsecret: 's' }
  const ok = await queryOrder(own, 54, MACHINE.documented, { headers, payload: signedBody({ machine_no: MACHINE.documented, timestamp: TIMESTAMP }, 'k') })
  t.equal(envelopeOf(ok).code, 0)
  const demo = await queryOrder(own, 54, MACHINE.documented)
  t.equal(envelopeOf(demo).code, 10014)
})

t.test('payload problems', async (t) => {
  const machine = MACHINE.documented
  const signed = signedBody({ machine_no: machine, timestamp: TIMESTAMP })

  const decoded = JSON.parse(Buffer.from(signed.payload, 'base64').toString('utf8'))
  const tampered = Buffer.from(JSON.stringify({ ...decoded, machine_no: MACHINE.other })).toString('base64')
  t.same(await outcome(6007, machine, { payload: { payload: tampered } }), [200, 4006], 'machine_no changed after signing')
  t.same(await outcome(54, machine, { payload: signedBody({ machine_no: machine, timestamp: TIMESTAMP }, 'wrong-key') }), [200, 4006], 'wrong sign key')
  const lower = { ...decoded, sign: signParams({ machine_no: machine, timestamp: TIMESTAMP }, DEMO_CREDENTIALS.signKey).toLowerCase() }
  t.same(await outcome(54, machine, { payload: { payload: Buffer.from(JSON.stringify(lower)).toString('base64') } }), [200, 4006], 'lowercase sign')
  const noSign = Buffer.from(JSON.stringify({ machine_no: machine, timestamp: TIMESTAMP })).toString('base64')
  t.same(await outcome(54, machine, { payload: { payload: noSign } }), [200, 4006], 'no sign')

  const b64 = (value: unknown): { payload: string } => ({ payload: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64') })
  const cases: Array<[string, unknown]> = [
    ['not JSON', 'this is not json'],
    ['JSON array', '[1,2]'],
    ['no payload', { other: 1 }],
    ['payload not a string', { payload: 42 }],
    ['empty payload', { payload: '' }],
    ['not base64', { payload: '%%%not-base64%%%' }],
    ['URL-safe base64', { payload: signed.payload.replace(/\+/g, '-').replace(/\//g, '_') + '-_' }],
    ['unpadded base64', { payload: Buffer.from('{"a":1}').toString('base64').replace(/=+$/, '') }],
    ['decoded not JSON', b64('machine_no=16327129')],
    ['decoded a JSON string', b64('"hello"')],
    ['decoded null', b64('null')],
    ['decoded not UTF-8', { payload: Buffer.from([0xff, 0xfe, 0x7b]).toString('base64') }]
  ]
  for (const [name, body] of cases) {
    const payload = typeof body === 'string' ? body : JSON.stringify(body)
    t.same(await outcome(54, machine, { payload }), [200, 4003], name)
  }
  t.same(await outcome(54, machine, { payload: '' }), [200, 4003], 'no body at all')

  t.same(await outcome('0', machine), [200, 4003], 'order id 0')
  t.same(await outcome('054', machine), [200, 4003], 'leading zero')
  t.same(await outcome('-5', machine), [200, 4003], 'negative')
  t.same(await outcome('abc', machine), [200, 4003], 'not a number')
  t.same(await outcome('1'.repeat(25), machine), [200, 4003], 'too long')
})

t.test('form validation of machine_no and timestamp', async (t) => {
  const check = async (params: Record<string, unknown>, name: string): Promise<void> => {
    const payload = signedBody(params as any)
    t.same(await outcome(54, MACHINE.documented, { payload }), [200, 10001], name)
  }
  await check({ timestamp: TIMESTAMP }, 'machine_no missing')
  await check({ machine_no: '1632712', timestamp: TIMESTAMP }, '7 digits')
  await check({ machine_no: '1'.repeat(21), timestamp: TIMESTAMP }, '21 digits')
  await check({ machine_no: '1632712a', timestamp: TIMESTAMP }, 'letter')
  await check({ machine_no: 16327129, timestamp: TIMESTAMP }, 'a number, not a string')
  await check({ machine_no: MACHINE.documented }, 'timestamp missing')
  await check({ machine_no: MACHINE.documented, timestamp: '17141157.42' }, 'timestamp not digits')
  await check({ machine_no: MACHINE.documented, timestamp: '' }, 'timestamp empty')
})

t.test('machine and order lookups', async (t) => {
  t.same(await outcome(54, MACHINE.unknown), [200, 30003], 'unknown machine')
  t.same(await outcome(54, MACHINE.offline), [200, 30002], 'offline machine')
  t.same(await outcome(54, MACHINE.notOperating), [200, 30004], 'machine not in operation')
  t.same(await outcome(ORDER.unknown, MACHINE.documented), [200, 80002], 'unknown order')
  t.same(await outcome(ORDER.otherMachine, MACHINE.documented), [200, 6007], "another machine's order")
  t.same(await outcome(ORDER.documented, MACHINE.other), [200, 6007], 'the documented order asked on the other machine')
  t.same(await outcome(ORDER.otherMachine, MACHINE.other), [200, 0], 'the other machine owns 6007')
  t.same(await outcome(ORDER.special, MACHINE.special), [200, 0], '12-digit special merchant machine')

  const expired = envelopeOf(await queryOrder(app, ORDER.expired, MACHINE.documented))
  t.same(expired, { code: 40005, message: '订单已过期', data: {} })
  t.same(await outcome(ORDER.stateInvalid, MACHINE.documented), [200, 40006], 'state invalid')
  t.same(await outcome(ORDER.expired, MACHINE.other), [200, 6007], 'ownership is checked before the order state')
})

t.test('the load machine answers any order id with a distinct terminal order of its own', async (t) => {
  const first = envelopeOf(await queryOrder(app, 987654321, MACHINE.load))
  const second = envelopeOf(await queryOrder(app, 987654322, MACHINE.load))
  t.equal(first.code, 0)
  t.match(first.data, { order_id: 987654321, status: 'SUCCESS', records: [{ id: 9876543211, status: 'IS_SUCCESS' }, { id: 9876543212, status: 'IS_PICKED_UP' }] })
  t.not(first.data.trade_id, second.data.trade_id, 'each order its own trade id')
  t.equal(second.data.order_id, 987654322)
  t.same(await outcome(ORDER.documented, MACHINE.load), [200, 0], 'even an id the table knows: the load machine has only generated orders')
  t.same(await outcome('9223372036854775807', MACHINE.load), [200, 0], 'the largest int64 id')
})

t.test('protobuf-shaped data of the special scenarios', async (t) => {
  const data = async (orderId: number): Promise<any> => envelopeOf(await queryOrder(app, orderId, MACHINE.documented)).data
  t.strictSame(await data(ORDER.allZero), { order_id: 1010 }, 'everything zero is left out')
  const strings = await data(ORDER.int64Strings)
  t.equal(strings.order_id, '1011')
  t.equal(strings.records[0].id, '10111')
  const unpaid = await data(1008)
  t.equal(unpaid.status, 'NOTPAY')
  t.notOk('notify_send_count' in unpaid)
  for (const record of unpaid.records) {
    t.notOk('status' in record)
    t.notOk('notify_sent' in record)
  }
  const pickup = await data(1007)
  t.equal(pickup.pickup_code_id, 7001)
  const unlisted = await data(ORDER.unlistedEnums)
  t.equal(unlisted.status, 'PARTIAL_REFUND')
  t.equal(unlisted.records[0].status, 'IS_QUEUED')
  t.equal(unlisted.refund_amount, '1.00')
})

t.test('hostile input never breaks it', async (t) => {
  let deep = '1'
  for (let i = 0; i < 20_000; i++) deep = `{"a":${deep}}`
  const nested = Buffer.from(`{"machine_no":"16327129","timestamp":"1","sign":"X","deep":${deep}}`).toString('base64')
  t.same(await outcome(54, MACHINE.documented, { payload: { payload: nested } }), [200, 4006], 'very deep params')
  const polluted = Buffer.from('{"__proto__":{"x":1},"machine_no":"16327129","timestamp":"1","sign":"X"}').toString('base64')
  t.same(await outcome('__proto__', MACHINE.documented, { payload: { payload: polluted } }), [200, 4006])
  const big = await app.inject({
    method: 'POST', url: '/api/openapi/v1/orders/54', headers: { ...HEADERS, 'content-type': 'application/json' }, payload: 'x'.repeat(2 * 1024 * 1024)
  })
  t.equal(big.statusCode, 413)
  t.equal(envelopeOf(big).code, 400)
  const badType = await app.inject({ method: 'POST', url: '/api/openapi/v1/orders/54', headers: { ...HEADERS, 'content-type': '' }, payload: '{}' })
  t.equal(envelopeOf(badType).code, 400)
  const get = await app.inject({ method: 'GET', url: '/api/openapi/v1/orders/54' })
  t.equal(get.statusCode, 404)
  const health = await app.inject({ method: 'GET', url: '/health' })
  t.same(health.json(), { status: 'ok' })
})
