import t from 'tap'
import { z } from 'zod'
import { AppError } from '../../src/errors/catalogue.js'
import { badResponse, parseData, resultFromAnswer } from '../../src/upstream/protocol.js'
import { isRetryable } from '../../src/upstream/retry.js'

// The envelope and HTTP rules every endpoint shares; what one endpoint reads out of the data is its own test's.

/** An endpoint that hands back the data the protocol gives it, with the status it was told. */
const ECHO = { parse: (data: unknown, _params: undefined, status: number) => ({ data, status }) }

function read (status: number, contentType: string | undefined, body: string | object) {
  return resultFromAnswer({ status, contentType, text: typeof body === 'string' ? body : JSON.stringify(body) }, ECHO, undefined)
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

t.test('a success envelope: its data goes to the endpoint with the status, lenient about the envelope', async (t) => {
  const cases: Array<[string, number, object, unknown]> = [
    ['a missing code is protobuf\'s 0', 200, { message: 'ok', data: { order_id: 2 } }, { order_id: 2 }],
    ['code 0 as a string', 201, { code: '0', data: { a: 1 } }, { a: 1 }],
    ['data as a JSON string is read as JSON', 200, { code: 0, data: JSON.stringify({ order_id: 3, amount: '1.00' }) }, { order_id: 3, amount: '1.00' }],
    ['unknown envelope keys are ignored', 200, { code: 0, data: { b: 2 }, trace: 'x' }, { b: 2 }],
    ['no data', 200, { code: 0 }, undefined],
    ['null data', 200, { code: 0, data: null }, null],
    ['a string that is not JSON is no data', 200, { code: 0, data: 'hello' }, undefined],
    ['an empty string is no data', 200, { code: 0, data: '' }, undefined],
    ['the string null is null', 200, { code: 0, data: 'null' }, null],
    ['an array is handed over as it is', 200, { message: 'ok', data: [{ order_id: 5 }] }, [{ order_id: 5 }]]
  ]
  for (const [name, status, body, data] of cases) t.same(read(status, JSON_TYPE, body), { data, status }, name)
})

t.test('what the endpoint throws reaches the caller unchanged', async (t) => {
  const refused = badResponse(200, 'not the order asked for')
  const picky = { parse: () => { throw refused } }
  t.throws(() => resultFromAnswer({ status: 200, contentType: JSON_TYPE, text: '{"code":0}' }, picky, undefined), refused)
  t.match(refused, { code: 'UPSTREAM_BAD_RESPONSE', upstreamStatus: 200, detail: 'not the order asked for' })
  t.notOk(isRetryable(refused), 'a 2xx: nothing for retries to act on')
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

t.test('a vendor code is its error whatever the status, the code as a number or a string', async (t) => {
  const answers: Array<[number, object, string, number]> = [
    [200, { code: 80002, message: 'no record', data: null }, 'ORDER_NOT_FOUND', 80002],
    [500, { code: '40005', message: '订单已过期' }, 'ORDER_EXPIRED', 40005],
    [200, { code: 1 }, 'UPSTREAM_ERROR', 1]
  ]
  for (const [status, body, code, vendorCode] of answers) t.match(failure(status, JSON_TYPE, body), { code, vendorCode, upstreamStatus: status }, code)
})

t.test('only a JSON media type (or text/plain, or none) is read as the vendor\'s answer', async (t) => {
  const success = { code: 0, data: { order_id: 5 } }
  for (const type of ['text/html', 'text/html; charset=utf-8', 'application/xml', 'application/octet-stream']) {
    const error = failure(200, type, success)
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', type)
    t.match(error.detail, type.split(';')[0]!)
  }
  for (const type of ['application/json', 'application/json; charset=utf-8', 'application/problem+json', 'text/plain; charset=utf-8', undefined]) {
    t.same(read(200, type, success), { data: { order_id: 5 }, status: 200 }, String(type))
  }
  const error = failure(200, '<b>x</b>/json', success)
  t.equal(error.code, 'UPSTREAM_BAD_RESPONSE')
  t.match(error.detail, /malformed content-type/, 'a header that is not a media type is not echoed')
})

t.test('bodies that are not the envelope are UPSTREAM_BAD_RESPONSE', async (t) => {
  const bodies: Array<[number, string, string]> = [
    [200, 'text/plain', 'this is not json'],
    [502, 'text/html', '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>'],
    [200, JSON_TYPE, '[1,2,3]'],
    [200, JSON_TYPE, '{"unrelated":true}'],
    [200, JSON_TYPE, '{"code":"zero","data":{}}'],
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

t.test('parseData: data that fits its schema is read by it; data that does not names the failing fields, never their values', async (t) => {
  const schema = z.object({ a: z.number(), b: z.string().max(3), nested: z.object({ c: z.number() }).optional() })
  t.same(parseData(schema, { a: 1, b: 'x', extra: true }, 200, 'thing'), { a: 1, b: 'x' })
  const cases: Array<[unknown, string]> = [
    [{ a: 'one', b: 'x' }, '(a)'],
    [{ a: 1, b: '<script>alert(1)</script>' }, '(b)'],
    [{ a: 1, b: 'x', nested: { c: 'x' } }, '(nested.c)'],
    [42, '(data)'],
    [{}, '(a, b)']
  ]
  for (const [data, fields] of cases) {
    const error = t.throws(() => parseData(schema, data, 201, 'thing')) as AppError
    t.match(error, { code: 'UPSTREAM_BAD_RESPONSE', upstreamStatus: 201 }, JSON.stringify(data))
    t.equal(error.detail, `The vendor's thing data does not match its documented shape ${fields}.`)
  }
  const wide = z.object(Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`f${i}`, z.number()])))
  t.match((t.throws(() => parseData(wide, {}, 200, 'thing')) as AppError).detail, '(f0, f1, f2, f3, f4 and 3 more)', 'a few fields say enough')
})
