import { once } from 'node:events'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { AppError } from '../../src/errors.js'
import { createVendorClient, type VendorClientOptions } from '../../src/upstream/client.js'
import { MAX_ORDER_LINES } from '../../src/upstream/schemas.js'
import { signParams } from '../../src/upstream/signing.js'
import { json, startUpstream, TEST_CREDENTIALS } from '../helper.js'

function client (t: Test, baseUrl: string, overrides: Partial<VendorClientOptions> = {}) {
  const vendor = createVendorClient({ baseUrl, ...TEST_CREDENTIALS, timeoutMs: 500, maxBodyBytes: 4096, ...overrides })
  t.teardown(() => vendor.close())
  return vendor
}

async function failure (promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof AppError) return error
    throw error
  }
  throw new Error('expected the call to fail')
}

t.test('sends a signed POST with the credentials as headers', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, message: 'ok', data: { order_id: 54, status: 'SUCCESS' } }))
  const fixedNow = 1_714_115_742_123
  const order = await client(t, upstream.url + '/prefix/', { now: () => fixedNow }).getOrder(54, '16327129')
  t.same(order, { order_id: 54, status: 'SUCCESS' })

  const [request] = upstream.requests
  t.equal(request?.method, 'POST')
  t.equal(request?.url, '/prefix/api/openapi/v1/orders/54', 'a base URL path prefix is kept')
  t.equal(request?.headers.appid, TEST_CREDENTIALS.appId)
  t.equal(request?.headers.appsecret, TEST_CREDENTIALS.appSecret)
  t.match(request?.headers['content-type'], /application\/json/)
  const payload = JSON.parse(Buffer.from(JSON.parse(request?.body ?? '{}').payload, 'base64').toString('utf8'))
  t.same(payload, {
    machine_no: '16327129',
    timestamp: '1714115742',
    sign: signParams({ machine_no: '16327129', timestamp: '1714115742' }, TEST_CREDENTIALS.signKey)
  })
})

t.test('every call carries a fresh timestamp and its own valid sign', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: { order_id: 1 } }))
  let now = 1_700_000_000_000
  const vendor = client(t, upstream.url, { now: () => now })
  await vendor.getOrder(1, '12345678')
  now += 5000
  await vendor.getOrder(1, '12345678')
  const payloads = upstream.requests.map((r) => JSON.parse(Buffer.from(JSON.parse(r.body).payload, 'base64').toString()))
  t.same(payloads.map((p) => p.timestamp), ['1700000000', '1700000005'])
  for (const p of payloads) t.equal(p.sign, signParams({ machine_no: p.machine_no, timestamp: p.timestamp }, TEST_CREDENTIALS.signKey))
})

t.test('trusts the body code over the HTTP status', async (t) => {
  const answers = [
    [401, { code: 10014, message: 'Appid invalid', data: {} }, 'UPSTREAM_REJECTED', 10014],
    [200, { code: 80002, message: 'no record', data: null }, 'ORDER_NOT_FOUND', 80002],
    [500, { code: '40005', message: '订单已过期' }, 'ORDER_EXPIRED', 40005]
  ] as const
  let next = 0
  const upstream = await startUpstream(t, (_req, res) => { const [status, body] = answers[next++]!; json(res, status, body) })
  const vendor = client(t, upstream.url)
  for (const [, , code, vendorCode] of answers) {
    const error = await failure(vendor.getOrder(1, '12345678'))
    t.equal(error.code, code)
    t.equal(error.vendorCode, vendorCode)
  }
})

t.test('lenient envelope: a missing code, data as a JSON string, unknown keys', async (t) => {
  const bodies = [
    { message: 'ok', data: { order_id: 2 } },
    { code: 0, message: 'ok', data: JSON.stringify({ order_id: 3, amount: '1.00' }), trace: 'x' },
    { code: 0, data: { order_id: '4', brand_new: true } }
  ]
  let next = 0
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, bodies[next++]))
  const vendor = client(t, upstream.url)
  t.same(await vendor.getOrder(2, '12345678'), { order_id: 2 }, 'a missing code is protobuf\'s 0')
  t.same(await vendor.getOrder(3, '12345678'), { order_id: 3, amount: '1.00' })
  t.same(await vendor.getOrder(4, '12345678'), { order_id: 4 })
})

/** An upstream answering each [status, content-type, body] in turn, and a client for it. */
async function answering (t: Test, answers: ReadonlyArray<readonly [number, string | undefined, string]>, overrides: Partial<VendorClientOptions> = {}) {
  let next = 0
  const upstream = await startUpstream(t, (_req, res) => {
    const [status, type, body] = answers[next++]!
    res.writeHead(status, type === undefined ? {} : { 'content-type': type })
    res.end(body)
  })
  return client(t, upstream.url, overrides)
}

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
  const vendor = await answering(t, bodies.map((body) => [200, 'application/json', JSON.stringify(body)] as const))
  for (const body of bodies) {
    const error = await failure(vendor.getOrder(5, '12345678'))
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', JSON.stringify(body))
    t.equal(error.upstreamStatus, undefined, 'a 2xx: nothing for retries to act on')
  }
})

t.test('a success envelope on a non-2xx status is UPSTREAM_BAD_RESPONSE naming the status', async (t) => {
  const success = JSON.stringify({ code: 0, data: { order_id: 5 } })
  const answers = [
    [404, 'application/json; charset=utf-8', JSON.stringify({ message: 'Route POST:/x/api/openapi/v1/orders/5 not found', error: 'Not Found', statusCode: 404 })],
    [301, 'application/json', success],
    [401, 'application/json', success],
    [401, 'application/json', JSON.stringify({ message: 'ok', data: { order_id: 5 } })],
    [503, 'application/json', success],
    [500, 'application/json', success]
  ] as const
  const vendor = await answering(t, answers)
  for (const [status] of answers) {
    const error = await failure(vendor.getOrder(5, '12345678'))
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', `HTTP ${status}`)
    t.equal(error.upstreamStatus, status, 'the status is kept for retry decisions')
    t.match(error.detail, `HTTP ${status}`)
    if (status === 404 || status === 301) t.match(error.detail, /VENDOR_BASE_URL/, 'a wrong base URL is named as a likely cause')
  }
})

t.test('the vendor\'s credential errors keep their mapping on a 401', async (t) => {
  const codes = [10008, 10013, 10014] as const
  const vendor = await answering(t, codes.map((code) => [401, 'application/json', JSON.stringify({ code, message: 'no', data: null })] as const))
  for (const code of codes) t.match(await failure(vendor.getOrder(5, '12345678')), { code: 'UPSTREAM_REJECTED', vendorCode: code })
})

t.test('only a JSON media type (or text/plain, or none) is read as the vendor\'s answer', async (t) => {
  const success = JSON.stringify({ code: 0, data: { order_id: 5 } })
  const refused = ['text/html', 'text/html; charset=utf-8', 'application/xml', 'application/octet-stream'] as const
  const accepted = ['application/json', 'application/json; charset=utf-8', 'application/problem+json', 'text/plain; charset=utf-8', undefined] as const
  const vendor = await answering(t, [...refused, ...accepted].map((type) => [200, type, success] as const))
  for (const type of refused) {
    const error = await failure(vendor.getOrder(5, '12345678'))
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', type)
    t.match(error.detail, type.split(';')[0]!)
  }
  for (const type of accepted) t.same(await vendor.getOrder(5, '12345678'), { order_id: 5 }, String(type))
  const odd = await answering(t, [[200, '<b>x</b>/json', success]])
  const error = await failure(odd.getOrder(5, '12345678'))
  t.equal(error.code, 'UPSTREAM_BAD_RESPONSE')
  t.match(error.detail, /malformed content-type/, 'a header that is not a media type is not echoed')
})

t.test('an order of countless lines is refused; the cap is far above a real order', async (t) => {
  const lines = (count: number) => JSON.stringify({ code: 0, data: { order_id: 5, records: Array.from({ length: count }, () => ({})) } })
  const vendor = await answering(t, [
    [200, 'application/json', lines(300_000)],
    [200, 'application/json', lines(MAX_ORDER_LINES + 1)],
    [200, 'application/json', lines(MAX_ORDER_LINES)]
  ], { maxBodyBytes: 1024 * 1024 })
  const flood = await failure(vendor.getOrder(5, '12345678'))
  t.equal(flood.code, 'UPSTREAM_BAD_RESPONSE')
  t.match(flood.detail, `at most ${MAX_ORDER_LINES}`)
  t.equal((await failure(vendor.getOrder(5, '12345678'))).code, 'UPSTREAM_BAD_RESPONSE', 'one line over the cap')
  t.equal((await vendor.getOrder(5, '12345678')).records?.length, MAX_ORDER_LINES, 'at the cap it passes')
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
  const vendor = await answering(t, cases.map(([, data]) => [200, 'application/json', JSON.stringify({ code: 0, data: { order_id: 5, ...data } })] as const), { maxBodyBytes: 64 * 1024 })
  for (const [field, data] of cases) {
    const error = await failure(vendor.getOrder(5, '12345678'))
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', JSON.stringify(data).slice(0, 60))
    t.match(error.detail, `(${field})`, 'the field is named')
    t.ok(error.detail.length < 200, 'the value is not echoed')
    t.notMatch(error.detail, /[<>]/)
  }
  const fine = await answering(t, [[200, 'application/json', JSON.stringify({ code: 0, data: { order_id: 5, date: '2024-02-29', trade_id: 'MCH_20240229-0001|A*@' } })]])
  t.same(await fine.getOrder(5, '12345678'), { order_id: 5, date: '2024-02-29', trade_id: 'MCH_20240229-0001|A*@' })
  const empty = await answering(t, [[200, 'application/json', JSON.stringify({ code: 0, data: { order_id: 5, date: '', trade_id: '' } })]])
  t.same(await empty.getOrder(5, '12345678'), { order_id: 5 }, 'protobuf\'s empty string is as good as absent')
})

t.test('bodies that are not the envelope or not an order are UPSTREAM_BAD_RESPONSE', async (t) => {
  const bodies: Array<[number, string, string]> = [
    [200, 'text/plain', 'this is not json'],
    [502, 'text/html', '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>'],
    [200, 'application/json', '[1,2,3]'],
    [200, 'application/json', '{"unrelated":true}'],
    [200, 'application/json', '{"code":"zero","data":{}}'],
    [200, 'application/json', '{"code":0,"data":{"order_id":"not a number"}}'],
    [200, 'application/json', '{"code":0,"data":{"records":"nope"}}'],
    [200, 'application/json', '{"code":0,"data":42}'],
    [200, 'application/json', '{"code":0,"data":{"order_id":99}}'],
    [200, 'text/html', '<html><body>{"code":0,"data":{"order_id":5}}</body></html>'],
    [200, 'text/html', '{"code":0,"data":{"order_id":5}}']
  ]
  let next = 0
  const upstream = await startUpstream(t, (_req, res) => {
    const [status, type, body] = bodies[next++]!
    res.writeHead(status, { 'content-type': type })
    res.end(body)
  })
  const vendor = client(t, upstream.url)
  for (const [status, , body] of bodies) {
    const error = await failure(vendor.getOrder(5, '12345678'))
    t.equal(error.code, 'UPSTREAM_BAD_RESPONSE', body.slice(0, 40))
    t.equal(error.status, 502)
    if (status === 502) t.equal(error.upstreamStatus, 502, 'the vendor\'s HTTP status is kept for retry decisions')
  }
})

t.test('a body over the cap is refused, declared or streamed', async (t) => {
  const big = JSON.stringify({ code: 0, data: { trade_id: 'x'.repeat(10_000) } })
  let chunked = false
  const upstream = await startUpstream(t, (_req, res) => {
    if (chunked) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write(big.slice(0, 3000))
      setTimeout(() => res.end(big.slice(3000)), 20)
    } else {
      json(res, 200, JSON.parse(big))
    }
    chunked = true
  })
  const vendor = client(t, upstream.url)
  const declared = await failure(vendor.getOrder(1, '12345678'))
  t.equal(declared.code, 'UPSTREAM_BAD_RESPONSE')
  t.match(declared.detail, /larger than 4096 bytes/)
  const streamed = await failure(vendor.getOrder(1, '12345678'))
  t.equal(streamed.code, 'UPSTREAM_BAD_RESPONSE')
  t.match(streamed.detail, /larger than 4096 bytes/)
})

t.test('a vendor slower than the deadline is UPSTREAM_TIMEOUT, on time', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => { setTimeout(() => json(res, 200, { code: 0, data: {} }), 1500) })
  const started = Date.now()
  const error = await failure(client(t, upstream.url, { timeoutMs: 200 }).getOrder(1, '12345678'))
  t.equal(error.code, 'UPSTREAM_TIMEOUT')
  t.equal(error.status, 504)
  t.ok(Date.now() - started < 1000, 'gave up at the deadline, not when the vendor answered')
})

t.test('a body that stalls past the deadline is UPSTREAM_TIMEOUT too', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
    res.write('{"code":0,')
  })
  const error = await failure(client(t, upstream.url, { timeoutMs: 200 }).getOrder(1, '12345678'))
  t.equal(error.code, 'UPSTREAM_TIMEOUT')
})

t.test('a call the caller cancels is UNAVAILABLE, at once, whether before or during the call', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => { setTimeout(() => json(res, 200, { code: 0, data: {} }), 1500) })
  const vendor = client(t, upstream.url, { timeoutMs: 5000 })
  const during = new AbortController()
  const started = Date.now()
  setTimeout(() => during.abort(), 50)
  const cancelled = await failure(vendor.getOrder(1, '12345678', { signal: during.signal }))
  t.equal(cancelled.code, 'UNAVAILABLE')
  t.ok(Date.now() - started < 1000, 'gave up when cancelled, not when the vendor answered')
  const calls = upstream.requests.length
  const before = await failure(vendor.getOrder(1, '12345678', { signal: AbortSignal.abort() }))
  t.equal(before.code, 'UNAVAILABLE')
  t.equal(upstream.requests.length, calls, 'a call cancelled before it started never reached the vendor')
})

t.test('a refused connection is UPSTREAM_UNREACHABLE', async (t) => {
  // take a free port, then close it so nothing listens there
  const probe = createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as AddressInfo).port
  probe.close()
  await once(probe, 'close')
  const error = await failure(client(t, `http://127.0.0.1:${port}`).getOrder(1, '12345678'))
  t.equal(error.code, 'UPSTREAM_UNREACHABLE')
  t.equal(error.status, 502)
})

t.test('a reset before the answer and a reset mid-body are UPSTREAM_UNREACHABLE', async (t) => {
  let midBody = false
  const upstream = await startUpstream(t, (req, res) => {
    if (midBody) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '200' })
      res.write('{"code":0,"data":{"order_')
      setTimeout(() => req.socket.destroy(), 10)
    } else {
      req.socket.destroy()
    }
    midBody = true
  })
  const vendor = client(t, upstream.url)
  t.equal((await failure(vendor.getOrder(1, '12345678'))).code, 'UPSTREAM_UNREACHABLE')
  t.equal((await failure(vendor.getOrder(1, '12345678'))).code, 'UPSTREAM_UNREACHABLE')
})
