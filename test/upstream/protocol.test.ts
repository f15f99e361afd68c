import t from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import { orderFromAnswer } from '../../src/upstream/protocol.js'
import { isRetryable } from '../../src/upstream/retry.js'
import { MAX_ORDER_LINES } from '../../src/upstream/schemas.js'

/** The protocol's reading of one answer (status, content-type, body) to a query for `orderId`. */
function read (status: number, contentType: string | undefined, body: string | object, orderId = 5) {
  return orderFromAnswer({ status, contentType, text: typeof body === 'string' ? body : JSON.stringify(body) }, orderId)
}

function failure (status: number, contentType: string | undefined, body: string | object): AppError {
  try {
    read(status, contentType, body)
  } catch (error) {
    if (error instanceof AppError) return error
    throw error
  }
  throw new Error('expected the answer to be refused')
}

const JSON_TYPE = 'application/json'

t.test('lenient envelope: a missing code, data as a JSON string, unknown keys', async (t) => {
  t.same(read(200, JSON_TYPE, { message: 'ok', data: { order_id: 2 } }, 2), { order_id: 2 }, 'a missing code is protobuf\'s 0')
  t.same(read(200, JSON_TYPE, { code: 0, message: 'ok', data: JSON.stringify({ order_id: 3, amount: '1.00' }), trace: 'x' }, 3), { order_id: 3, amount: '1.00' })
  t.same(read(200, JSON_TYPE, { code: 0, data: { order_id: '4', brand_new: true } }, 4), { order_id: 4 })
})

t.test('a success without the order asked for is UPSTREAM_BAD_RESPONSE, never an invented order', async (t) => {
  const bodies = [
    { code: 0, data: '' },
    { code: 0, data: 'hello' },
    { code: 0, data: null },
    { code: 0 },
    { code: 0, data: {} },
    { code: 0, data: { status: 'SUCCESS', amount: '3.00' } },
    { code: 0, data: JSON.stringify({}) },
    { code: 0, data: 'null' },
    { code: 0, data: { order_id: 0 } },
    { code: 0, data: { order_id: 6 } },
    { message: 'ok', data: [{ order_id: 5 }] }
  ]
  for (const body of bodies) {
    const error = failure(200, JSON_TYPE, body)
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', JSON.stringify(body))
    t.equal(error.upstreamStatus, 200, 'the answer\'s status is kept, for the log')
    t.notOk(isRetryable(error), 'a 2xx: nothing for retries to act on')
  }
})

t.test('a success envelope on a non-2xx status is UPSTREAM_BAD_RESPONSE naming the status', async (t) => {
  const success = { code: 0, data: { order_id: 5 } }
  const answers = [
    [404, 'application/json; charset=utf-8', { message: 'Route POST:/x/api/openapi/v1/orders/5 not found', error: 'Not Found', statusCode: 404 }],
    [301, JSON_TYPE, success],
    [401, JSON_TYPE, success],
    [401, JSON_TYPE, { message: 'ok', data: { order_id: 5 } }],
    [503, JSON_TYPE, success],
    [500, JSON_TYPE, success]
  ] as const
  for (const [status, type, body] of answers) {
    const error = failure(status, type, body)
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', `HTTP ${status}`)
    t.equal(error.upstreamStatus, status, 'the status is kept for retry decisions')
    t.match(error.detail, `HTTP ${status}`)
    if (status === 404 || status === 301) t.match(error.detail, /VENDOR_BASE_URL/, 'a wrong base URL is named as a likely cause')
  }
})

t.test('the vendor\'s credential errors keep their mapping on a 401', async (t) => {
  for (const code of [10008, 10013, 10014]) {
    t.match(failure(401, JSON_TYPE, { code, message: 'no', data: null }), { code: 'UPSTREAM_REJECTED', vendorCode: code, upstreamStatus: 401 })
  }
})

t.test('only a JSON media type (or text/plain, or none) is read as the vendor\'s answer', async (t) => {
  const success = { code: 0, data: { order_id: 5 } }
  for (const type of ['text/html', 'text/html; charset=utf-8', 'application/xml', 'application/octet-stream']) {
    const error = failure(200, type, success)
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', type)
    t.match(error.detail, type.split(';')[0]!)
  }
  for (const type of ['application/json', 'application/json; charset=utf-8', 'application/problem+json', 'text/plain; charset=utf-8', undefined]) {
    t.same(read(200, type, success), { order_id: 5 }, String(type))
  }
  const error = failure(200, '<b>x</b>/json', success)
  t.equal(error.code, 'UPSTREAM_BAD_RESPONSE')
  t.match(error.detail, /malformed content-type/, 'a header that is not a media type is not echoed')
})

t.test('an order of countless lines is refused; the cap is far above a real order', async (t) => {
  const lines = (count: number) => ({ code: 0, data: { order_id: 5, records: Array.from({ length: count }, () => ({})) } })
  const flood = failure(200, JSON_TYPE, lines(300_000))
  t.equal(flood.code, 'UPSTREAM_BAD_RESPONSE')
  t.match(flood.detail, `at most ${MAX_ORDER_LINES}`)
  t.equal(failure(200, JSON_TYPE, lines(MAX_ORDER_LINES + 1)).code, 'UPSTREAM_BAD_RESPONSE', 'one line over the cap')
  t.equal(read(200, JSON_TYPE, lines(MAX_ORDER_LINES)).records?.length, MAX_ORDER_LINES, 'at the cap it passes')
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
    const error = failure(200, JSON_TYPE, { code: 0, data: { order_id: 5, ...data } })
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', JSON.stringify(data).slice(0, 60))
    t.match(error.detail, `(${field})`, 'the field is named')
    t.ok(error.detail.length < 200, 'the value is not echoed')
    t.notMatch(error.detail, /[<>]/)
  }
  t.same(read(200, JSON_TYPE, { code: 0, data: { order_id: 5, date: '2024-02-29', trade_id: 'MCH_20240229-0001|A*@' } }), { order_id: 5, date: '2024-02-29', trade_id: 'MCH_20240229-0001|A*@' })
  t.same(read(200, JSON_TYPE, { code: 0, data: { order_id: 5, date: '', trade_id: '' } }), { order_id: 5 }, 'protobuf\'s empty string is as good as absent')
})

t.test('bodies that are not the envelope or not an order are UPSTREAM_BAD_RESPONSE', async (t) => {
  const bodies: Array<[number, string, string]> = [
    [200, 'text/plain', 'this is not json'],
    [502, 'text/html', '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>'],
    [200, JSON_TYPE, '[1,2,3]'],
    [200, JSON_TYPE, '{"unrelated":true}'],
    [200, JSON_TYPE, '{"code":"zero","data":{}}'],
    [200, JSON_TYPE, '{"code":0,"data":{"order_id":"not a number"}}'],
    [200, JSON_TYPE, '{"code":0,"data":{"records":"nope"}}'],
    [200, JSON_TYPE, '{"code":0,"data":42}'],
    [200, JSON_TYPE, '{"code":0,"data":{"order_id":99}}'],
    [200, 'text/html', '<html><body>{"code":0,"data":{"order_id":5}}</body></html>'],
    [200, 'text/html', '{"code":0,"data":{"order_id":5}}'],
    [200, JSON_TYPE, '\uFEFF{"code":0,"data":{"order_id":5}}']
  ]
  for (const [status, type, body] of bodies) {
    const error = failure(status, type, body)
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', body.slice(0, 40))
    t.equal(error.status, 502)
    if (status === 502) t.equal(error.upstreamStatus, 502, 'the vendor\'s HTTP status is kept for retry decisions')
  }
})
