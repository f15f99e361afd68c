import { get } from 'node:http'
import t, { type Test } from 'tap'
import { ERROR_KINDS, type ErrorCode } from '../../src/errors/catalogue.js'
import { ORDER_EXAMPLE } from '../../src/orders/schema.js'
import { VENDOR_CODE_TABLE } from '../../src/upstream/codes.js'
import { answerOrder, assertProblem, buildTestApp, json, openEventStream, startUpstream, until } from '../helper.js'
import { DOCUMENTED_VENDOR_ORDER } from '../fixtures/documented-order.js'

t.test('GET /orders/:id answers the normalized order', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, message: 'ok', data: DOCUMENTED_VENDOR_ORDER }))
  const app = await buildTestApp(t, upstream.url)
  const res = await app.inject({ url: '/orders/54?machine=16327129&unrelated=ignored' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.same(res.json(), ORDER_EXAMPLE)
  t.equal(upstream.requests.length, 1)
  t.equal(upstream.requests[0]?.url, '/api/openapi/v1/orders/54')
})

t.test('the request id: a sane incoming one is kept, anything else replaced', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 80002, message: 'no record' }))
  const app = await buildTestApp(t, upstream.url)
  const kept = await app.inject({ url: '/orders/1?machine=16327129', headers: { 'x-request-id': 'abc-123.def:9' } })
  t.equal(kept.headers['x-request-id'], 'abc-123.def:9')
  t.equal(kept.json().requestId, 'abc-123.def:9')
  const replaced = await app.inject({ url: '/orders/1?machine=16327129', headers: { 'x-request-id': 'bad id\nwith newline' } })
  t.match(replaced.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  t.equal(replaced.json().requestId, replaced.headers['x-request-id'])
})

const BAD_IDS = ['0', '-1', '1.5', 'abc', '007', '1'.repeat(30), '9007199254740992', '+5', '1e3', '%20']
const BAD_MACHINES = ['1234567', '1'.repeat(21), 'abcdefgh', '1632 7129', ' 16327129', '16327129 ', '']

t.test('malformed id or machine: 400 naming the field, and the vendor is never called', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: DOCUMENTED_VENDOR_ORDER }))
  const app = await buildTestApp(t, upstream.url)

  for (const id of BAD_IDS) {
    const res = await app.inject({ url: `/orders/${encodeURIComponent(id)}?machine=16327129` })
    t.equal(res.statusCode, 400, `id ${JSON.stringify(id)}`)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    const body = res.json()
    t.match(body, { type: 'urn:vending-orders:problem:invalid-request', title: 'Invalid request', status: 400, code: 'INVALID_REQUEST', requestId: String })
    t.same(body.errors.map((e: { in: string, field: string }) => `${e.in}.${e.field}`), ['params.id'], `id ${JSON.stringify(id)}`)
  }
  for (const machine of BAD_MACHINES) {
    const res = await app.inject({ url: `/orders/54?machine=${encodeURIComponent(machine)}` })
    t.equal(res.statusCode, 400, `machine ${JSON.stringify(machine)}`)
    t.same(res.json().errors.map((e: { field: string }) => e.field), ['machine'], `machine ${JSON.stringify(machine)}`)
  }
  const missing = await app.inject({ url: '/orders/54' })
  t.equal(missing.statusCode, 400)
  t.same(missing.json().errors, [{ in: 'querystring', field: 'machine', message: 'is required' }])

  for (const url of ['/orders/54?machine=16327129&machine=16327129', '/orders/54?machine=16327129&machine=abc']) {
    const repeated = await app.inject({ url })
    t.equal(repeated.statusCode, 400)
    t.same(repeated.json().errors, [{ in: 'querystring', field: 'machine', message: 'given more than once; send it once' }], url)
  }

  const both = await app.inject({ url: '/orders/007?machine=abc' })
  t.same(both.json().errors.map((e: { in: string, field: string }) => `${e.in}.${e.field}`), ['params.id', 'querystring.machine'],
    'params and query failures are reported together')
  t.match(both.json().detail, /id, machine/)

  t.equal(upstream.requests.length, 0, 'no bad input reached the vendor')
})

t.test('the largest safe id and a 20-digit machine are accepted', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: { order_id: 9007199254740991 } }))
  const app = await buildTestApp(t, upstream.url)
  const res = await app.inject({ url: `/orders/9007199254740991?machine=${'1'.repeat(20)}` })
  t.equal(res.statusCode, 200)
  t.equal(res.json().id, 9007199254740991)
})

/**
 * Every vendor code of the table (src/upstream/codes.ts; test/upstream/codes.test.ts checks it row
 * by row), and two it never documented, end to end over real HTTP: each sent with one of the HTTP
 * statuses the vendor uses, for the body code is trusted whatever the status.
 */
const VENDOR_HTTP_STATUSES = [200, 401, 403, 400, 500]
const VENDOR_ROWS: Array<[number, number, ErrorCode]> = [
  ...VENDOR_CODE_TABLE.flatMap(([code, vendorCodes]) => vendorCodes.map((vendorCode) => [vendorCode, code] as const)),
  [77777, 'UPSTREAM_ERROR'] as const, [5001, 'UPSTREAM_ERROR'] as const
].map(([vendorCode, code], i) => [vendorCode, VENDOR_HTTP_STATUSES[i % VENDOR_HTTP_STATUSES.length]!, code])

t.test('every vendor code maps to its row of the error table, as problem+json', async (t) => {
  let answer: [number, number] = [0, 200]
  const upstream = await startUpstream(t, (_req, res) => json(res, answer[1], { code: answer[0], message: 'vendor says no', data: {} }))
  const app = await buildTestApp(t, upstream.url)
  for (const [vendorCode, vendorStatus, code] of VENDOR_ROWS) {
    const { status } = ERROR_KINDS[code]
    answer = [vendorCode, vendorStatus]
    const res = await app.inject({ url: '/orders/54?machine=16327129' })
    t.equal(res.statusCode, status, `vendor ${vendorCode}`)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    const body = res.json()
    t.same(Object.keys(body).sort(), ['code', 'detail', 'requestId', 'status', 'title', 'type', 'vendorCode'])
    t.match(body, { code, status, vendorCode, requestId: res.headers['x-request-id'] }, `vendor ${vendorCode}`)
    t.equal(res.headers['retry-after'], code === 'MACHINE_OFFLINE' ? '30' : undefined)
    t.not(res.statusCode, 401, 'a vendor 401 never becomes our 401')
  }
})

t.test('transport faults map to their rows', async (t) => {
  let mode = ''
  const upstream = await startUpstream(t, (req, res) => {
    if (mode === 'reset') req.socket.destroy()
    else if (mode === 'html') { res.writeHead(502, { 'content-type': 'text/html' }); res.end('<html><body>Bad Gateway</body></html>') } else if (mode === 'slow') setTimeout(() => json(res, 200, { code: 0, data: {} }), 800)
  })
  const app = await buildTestApp(t, upstream.url, { vendorTimeoutMs: 200 })
  for (const [m, code, status] of [['reset', 'UPSTREAM_UNREACHABLE', 502], ['html', 'UPSTREAM_BAD_RESPONSE', 502], ['slow', 'UPSTREAM_TIMEOUT', 504]] as const) {
    mode = m
    const res = await app.inject({ url: '/orders/54?machine=16327129' })
    t.equal(res.statusCode, status, m)
    t.match(res.json(), { code, status, type: `urn:vending-orders:problem:${code.toLowerCase().replaceAll('_', '-')}` })
    t.notOk('vendorCode' in res.json())
  }
})

t.test('unknown routes get a problem+json 404', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, {}))
  const app = await buildTestApp(t, upstream.url)
  for (const [method, url] of [['GET', '/nope'], ['POST', '/nope'], ['GET', '/orders'], ['GET', '/orders/54/items']] as const) {
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 404, `${method} ${url}`)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.match(res.json(), { code: 'NOT_FOUND', status: 404, requestId: String })
    t.notOk(res.headers.allow)
  }
  t.equal(upstream.requests.length, 0)
})

t.test('another method on a known path is a 405 naming the allowed ones', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: DOCUMENTED_VENDOR_ORDER }))
  const app = await buildTestApp(t, upstream.url)
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    const res = await app.inject({ method, url: '/orders/54?machine=16327129', headers: { 'x-request-id': 'wrong-method' } })
    const body = assertProblem(t, res, 405, 'METHOD_NOT_ALLOWED')
    t.equal(res.headers.allow, 'GET, HEAD', method)
    t.equal(res.headers['x-request-id'], 'wrong-method')
    t.equal(body.detail, `${method} is not allowed on /orders/54; use GET or HEAD.`)
  }
  const health = await app.inject({ method: 'DELETE', url: '/health/live' })
  t.equal(health.statusCode, 405, 'every route, not only the orders one')
  t.equal(health.headers.allow, 'GET, HEAD')
  t.equal((await app.inject({ method: 'HEAD', url: '/orders/54?machine=16327129' })).statusCode, 200, 'HEAD is answered')
  t.equal(upstream.requests.length, 1, 'only the HEAD reached the vendor')
})

t.test('OPTIONS without CORS stays a 404: preflights belong to the CORS policy', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, {}))
  const app = await buildTestApp(t, upstream.url)
  assertProblem(t, await app.inject({ method: 'OPTIONS', url: '/orders/54?machine=16327129' }), 404, 'NOT_FOUND')
})

t.test('with CORS on, preflights still work and its OPTIONS route does not turn unknown paths into 405s', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, {}))
  const app = await buildTestApp(t, upstream.url, { corsOrigins: ['https://app.example.com'] })
  const preflight = await app.inject({ method: 'OPTIONS', url: '/orders/54', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } })
  t.equal(preflight.statusCode, 204)
  const post = await app.inject({ method: 'POST', url: '/orders/54' })
  assertProblem(t, post, 405, 'METHOD_NOT_ALLOWED')
  t.equal(post.headers.allow, 'GET, HEAD')
  assertProblem(t, await app.inject({ method: 'POST', url: '/nope' }), 404, 'NOT_FOUND')
})

/** A stub vendor answering an order in `status`, and the app listening on it (cache off: the poller asks every 250 ms). */
async function longPollSetup (t: Test, env: Record<string, string> = {}) {
  let status = 'NOTPAY'
  const upstream = await startUpstream(t, (req, res) => { answerOrder(req, res, { status }) })
  const app = await buildTestApp(t, upstream.url, {}, {}, env)
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  const first = await fetch(`${url}/orders/7?machine=16327129`)
  await first.text()
  return { app, url, etag: first.headers.get('etag')!, setStatus: (next: string) => { status = next } }
}

t.test('long polling: Prefer: wait holds a matching If-None-Match until the order changes', async (t) => {
  const { app, url, etag, setStatus } = await longPollSetup(t)
  const held = fetch(`${url}/orders/7?machine=16327129`, { headers: { 'if-none-match': etag, prefer: 'wait=20' } })
  await until(() => app.watchers.size === 1)
  setStatus('SUCCESS')
  const res = await held
  t.equal(res.status, 200)
  t.equal(res.headers.get('preference-applied'), 'wait=20')
  t.match(await res.json(), { id: 7, status: 'SUCCESS' })
  t.not(res.headers.get('etag'), etag)
  t.match(res.headers.get('vary'), /Prefer/)
  t.match(res.headers.get('cache-status'), /^vending-orders; fwd=bypass; ttl=-?\d+$/, 'how the poller got it: the cache is off, so a vendor call of its own')
})

t.test('long polling: Cache-Status says how the poller got the change', async (t) => {
  const { app, url, etag, setStatus } = await longPollSetup(t, { CACHE_ENABLED: 'true', CACHE_FRESH_MS: '300' })
  const held = fetch(`${url}/orders/7?machine=16327129`, { headers: { 'if-none-match': etag, prefer: 'wait=20' } })
  await until(() => app.watchers.size === 1)
  setStatus('SUCCESS')
  const res = await held
  t.equal(res.status, 200)
  t.match(await res.json(), { status: 'SUCCESS' })
  t.match(res.headers.get('cache-status'), /^vending-orders; fwd=miss; stored; ttl=\d+$/, 'the poller\'s own vendor call once the kept order was no longer fresh')
})

t.test('long polling: 304 once the wait is over; a wait over 30 s is clamped; no Prefer, a malformed one or another ETag: answered at once', async (t) => {
  const { app, url, etag } = await longPollSetup(t)
  const res = await fetch(`${url}/orders/7?machine=16327129`, { headers: { 'if-none-match': etag, prefer: 'wait=1' } })
  t.equal(res.status, 304)
  t.equal(res.headers.get('preference-applied'), 'wait=1')
  t.match(res.headers.get('vary'), /Prefer/)
  for (const prefer of [undefined, 'wait=abc', 'wait=-1', 'respond-async']) {
    const plain = await fetch(`${url}/orders/7?machine=16327129`, { headers: { 'if-none-match': etag, ...(prefer === undefined ? {} : { prefer }) } })
    t.equal(plain.status, 304, String(prefer))
    t.equal(plain.headers.get('preference-applied'), null)
  }
  const other = await fetch(`${url}/orders/7?machine=16327129`, { headers: { 'if-none-match': '"other"', prefer: 'wait=30' } })
  t.equal(other.status, 200, 'the client\'s ETag is not the current one: the order at once')
  t.equal(other.headers.get('preference-applied'), 'wait=30', 'the wait is honoured: there was nothing to wait for')
  await other.text()
  const noVersion = await fetch(`${url}/orders/7?machine=16327129`, { headers: { prefer: 'wait=30' } })
  t.equal(noVersion.status, 200, 'without If-None-Match there is nothing to wait past: the order at once')
  t.equal(noVersion.headers.get('preference-applied'), null, 'and the wait is not said to be applied')
  await noVersion.text()
  // a clamped wait is still a wait: a client that leaves it early (closes its connection) releases the watcher
  const leaving = get(`${url}/orders/7?machine=16327129`, { headers: { 'if-none-match': etag, prefer: 'wait=3600' } })
  leaving.on('error', () => {})
  await until(() => app.watchers.size === 1)
  leaving.destroy()
  await until(() => app.watchers.size === 0)
  t.pass('a client that leaves releases its watcher')
})

t.test('long polling: shutdown answers a held request with 304 at once', async (t) => {
  const { app, url, etag } = await longPollSetup(t)
  const held = fetch(`${url}/orders/7?machine=16327129`, { headers: { 'if-none-match': etag, prefer: 'wait=30' } })
  await until(() => app.watchers.size === 1)
  const closing = app.close()
  const res = await held
  t.equal(res.status, 304)
  t.equal(res.headers.get('connection'), 'close', 'and the connection goes, as every answer while draining')
  await closing
})

/** The ETag order `id` has now, to long-poll past it. */
async function etagOf (url: string, id: number): Promise<string> {
  const res = await fetch(`${url}/orders/${id}?machine=16327129`)
  await res.text()
  return res.headers.get('etag')!
}

/** A long poll over its own connection, which the test can leave (destroy) before it is answered. */
function heldPoll (url: string, id: number, etag: string, wait = 30) {
  const req = get(`${url}/orders/${id}?machine=16327129`, { headers: { 'if-none-match': etag, prefer: `wait=${wait}` } })
  req.on('error', () => {})
  const answered = new Promise<number>((resolve) => { req.on('response', (res) => { res.resume(); resolve(res.statusCode!) }) })
  return { answered, leave: () => { req.destroy() } }
}

t.test('long polling: a held long poll takes one of the client\'s EVENTS_MAX_PER_CLIENT slots, shared with event streams, until it is answered or its client leaves', async (t) => {
  const { app, url, etag, setStatus } = await longPollSetup(t, { EVENTS_MAX_PER_CLIENT: '2' })
  const etag8 = await etagOf(url, 8)
  const first = heldPoll(url, 7, etag)
  const second = heldPoll(url, 8, etag8)
  await until(() => app.watchers.size === 2, { what: 'both long polls held' })

  const refused = await app.inject({ url: '/orders/7?machine=16327129', headers: { 'if-none-match': etag, prefer: 'wait=30' } })
  const body = assertProblem(t, refused, 429, 'RATE_LIMITED')
  t.match(body.detail, /2 event streams and long polls open.*poll without Prefer: wait/, 'the detail says what to do')
  t.equal(refused.headers['retry-after'], '5')
  for (const header of ['etag', 'cache-control', 'cache-status', 'preference-applied']) t.notOk(refused.headers[header], `a refusal is no representation of the order: no ${header}`)
  const stream = await openEventStream(t, `${url}/orders/9/events?machine=16327129`)
  t.equal(stream.status, 429, 'an event stream counts against the same share')
  await stream.text()
  t.equal((await app.inject({ url: '/orders/7?machine=16327129', headers: { 'if-none-match': etag } })).statusCode, 304, 'a poll without a wait takes no slot')
  t.equal((await app.inject({ url: '/orders/7?machine=16327129' })).statusCode, 200)

  first.leave()
  await until(() => app.watchers.size === 1, { what: 'the poll that left let its watcher go' })
  const third = heldPoll(url, 7, etag)
  await until(() => app.watchers.size === 2, { what: 'the slot it gave back taken by another long poll' })
  setStatus('SUCCESS')
  t.same(await Promise.all([second.answered, third.answered]), [200, 200], 'both answered by the change')
  const after = await openEventStream(t, `${url}/orders/9/events?machine=16327129`)
  t.equal(after.status, 200, 'answered long polls gave their slots back')
  after.close()
})

t.test('long polling: a long poll answered 304 at the end of its wait gives its slot back', async (t) => {
  const { url, etag } = await longPollSetup(t, { EVENTS_MAX_PER_CLIENT: '1' })
  t.equal(await heldPoll(url, 7, etag, 1).answered, 304)
  const stream = await openEventStream(t, `${url}/orders/7/events?machine=16327129`)
  t.equal(stream.status, 200)
})

t.test('long polling: held long polls count toward EVENTS_MAX_STREAMS too (503 beyond)', async (t) => {
  const { app, url, etag } = await longPollSetup(t, { EVENTS_MAX_STREAMS: '1', EVENTS_MAX_PER_CLIENT: '5' })
  const held = heldPoll(url, 7, etag)
  await until(() => app.watchers.size === 1, { what: 'the long poll held' })
  const refused = await app.inject({ url: '/orders/7?machine=16327129', headers: { 'if-none-match': etag, prefer: 'wait=30' } })
  assertProblem(t, refused, 503, 'UNAVAILABLE')
  t.ok(Number(refused.headers['retry-after']) > 0, 'Retry-After')
  const stream = await openEventStream(t, `${url}/orders/9/events?machine=16327129`)
  t.equal(stream.status, 503, 'and an event stream is refused the same')
  await stream.text()
  held.leave()
  await until(() => app.watchers.size === 0)
})
