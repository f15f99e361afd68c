import t from 'tap'
import { AppError } from '../../../src/errors/catalogue.js'
import { MAX_ORDER_LINES, orderQuery } from '../../../src/upstream/endpoints/order-query.js'
import { resultFromAnswer } from '../../../src/upstream/protocol.js'
import { isRetryable } from '../../../src/upstream/retry.js'

const PARAMS = { orderId: 5, machineNo: '16327129' }

/** The order the query for `orderId` reads out of a success answer carrying `data`, as the client reads it. */
function read (data: unknown, orderId = 5, status = 200) {
  return resultFromAnswer({ status, contentType: 'application/json', text: JSON.stringify({ code: 0, data }) }, orderQuery, { ...PARAMS, orderId })
}

function failure (data: unknown): AppError {
  try {
    read(data)
  } catch (error) {
    if (error instanceof AppError) return error
    throw error
  }
  throw new Error('expected the answer to be refused')
}

t.test('what the query sends and says about itself', async (t) => {
  const cases: Array<[{ orderId: number, machineNo: string }, string, object]> = [
    [{ orderId: 54, machineNo: '16327129' }, '/api/openapi/v1/orders/54', { machine_no: '16327129' }],
    [{ orderId: 9_007_199_254_740_991, machineNo: '12345678901234567890' }, '/api/openapi/v1/orders/9007199254740991', { machine_no: '12345678901234567890' }]
  ]
  for (const [params, path, payload] of cases) {
    t.equal(orderQuery.path(params), path)
    t.same(orderQuery.payload(params), payload, 'the machine in the signed payload; the id in the path')
    t.same(orderQuery.logFields(params), { orderId: params.orderId }, 'the log line names the order, never the machine')
    t.same(orderQuery.spanAttributes(params), { 'vending.order.id': params.orderId })
  }
  t.equal(orderQuery.idempotent, true, 'a query: safe to send again')
})

t.test('the order, leniently: ids as digit strings, unknown fields dropped, protobuf\'s empty strings as absent', async (t) => {
  const cases: Array<[string, unknown, number, object]> = [
    ['a plain order', { order_id: 2 }, 2, { order_id: 2 }],
    ['an id as a digit string, an unknown field', { order_id: '4', brand_new: true }, 4, { order_id: 4 }],
    ['data as a JSON string', JSON.stringify({ order_id: 3, amount: '1.00' }), 3, { order_id: 3, amount: '1.00' }],
    ['a real leap day, a merchant trade id', { order_id: 5, date: '2024-02-29', trade_id: 'MCH_20240229-0001|A*@' }, 5, { order_id: 5, date: '2024-02-29', trade_id: 'MCH_20240229-0001|A*@' }],
    ['empty strings', { order_id: 5, date: '', trade_id: '' }, 5, { order_id: 5 }],
    ['lines with their flags', { order_id: 5, records: [{ id: '1', notify_sent: '1', price: 3 }, { notify_sent: 0 }] }, 5, { order_id: 5, records: [{ id: 1, notify_sent: true, price: '3' }, { notify_sent: false }] }]
  ]
  for (const [name, data, orderId, order] of cases) t.same(read(data, orderId), order, name)
})

t.test('a success without the order asked for is UPSTREAM_BAD_RESPONSE, never an invented order', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    ['', /without order data/],
    ['hello', /without order data/],
    [null, /without order data/],
    [undefined, /without order data/],
    ['null', /without order data/],
    [{}, /\(order_id\)/],
    [{ status: 'SUCCESS', amount: '3.00' }, /\(order_id\)/],
    [JSON.stringify({}), /\(order_id\)/],
    [{ order_id: 0 }, /order 0 for order 5/],
    [{ order_id: 6 }, /order 6 for order 5/],
    [{ order_id: 99 }, /order 99 for order 5/],
    [[{ order_id: 5 }], /\(data\)/],
    [{ order_id: 'not a number' }, /\(order_id\)/],
    [{ order_id: 5, records: 'nope' }, /\(records\)/],
    [42, /\(data\)/]
  ]
  for (const [data, detail] of cases) {
    const error = failure(data)
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', JSON.stringify(data))
    t.match(error.detail, detail)
    t.equal(error.upstreamStatus, 200, 'the answer\'s status is kept, for the log')
    t.notOk(isRetryable(error), 'a 2xx: nothing for retries to act on')
  }
})

t.test('an order of countless lines is refused; the cap is far above a real order', async (t) => {
  const lines = (count: number) => ({ order_id: 5, records: Array.from({ length: count }, () => ({})) })
  const flood = failure(lines(300_000))
  t.equal(flood.code, 'UPSTREAM_BAD_RESPONSE')
  t.match(flood.detail, `at most ${MAX_ORDER_LINES}`)
  t.equal(failure(lines(MAX_ORDER_LINES + 1)).code, 'UPSTREAM_BAD_RESPONSE', 'one line over the cap')
  t.equal(read(lines(MAX_ORDER_LINES)).records?.length, MAX_ORDER_LINES, 'at the cap it passes')
})

t.test('a documented field that breaks its format is refused, named without its value', async (t) => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['date', { date: '<img src=x onerror=alert(1)>' }],
    ['date', { date: '2024-02-30' }],
    ['date', { date: '26/04/2024' }],
    ['trade_id', { trade_id: '<script>alert(1)</script>' }],
    ['trade_id', { trade_id: 'a\u0000b' }],
    ['trade_id', { trade_id: 'x'.repeat(3000) }],
    ['amount', { amount: '9'.repeat(3000) }],
    ['records.0.price', { records: [{ price: '1'.repeat(3000) }] }]
  ]
  for (const [field, data] of cases) {
    const error = failure({ order_id: 5, ...data })
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', JSON.stringify(data).slice(0, 60))
    t.match(error.detail, `(${field})`, 'the field is named')
    t.ok(error.detail.length < 200, 'the value is not echoed')
    t.notMatch(error.detail, /[<>]/)
  }
})
