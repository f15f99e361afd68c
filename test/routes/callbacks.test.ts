import t, { type Test } from 'tap'
import { createMetrics } from '../../src/observability/metrics.js'
import { answerOrder, buildTestApp, captureLogs, openEventStream, startUpstream } from '../helper.js'

const TOKEN = 'callback-token-0123456789-abcdefghij'

/** The service against a stub vendor that answers `status`, listening, with CALLBACK_TOKEN set (fresh for a minute: only a wake asks again). */
async function setup (t: Test, deps = {}) {
  let status = 'NOTPAY'
  const upstream = await startUpstream(t, (req, res) => { answerOrder(req, res, { status }) })
  const app = await buildTestApp(t, upstream.url, { callbackToken: TOKEN }, deps, { CACHE_ENABLED: 'true', CACHE_FRESH_MS: '60000' })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  const post = (path: string, body: string, type = 'application/json') =>
    fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': type }, body })
  return { app, url, upstream, post, setStatus: (next: string) => { status = next } }
}

t.test('a wrong or missing token is the 404 of an unknown route, and asks the vendor nothing', async (t) => {
  const { url, upstream, post } = await setup(t)
  const stream = await openEventStream(t, `${url}/orders/7/events?machine=16327129`)
  await stream.next()
  const calls = upstream.requests.length
  const unknown = await post('/callbacks/nowhere', '{"order_id":7}')
  const unknownBody = await unknown.json() as Record<string, unknown>
  for (const path of ['/callbacks/delivery/wrong-token', `/callbacks/delivery/${TOKEN}x`, `/callbacks/delivery/${TOKEN.slice(0, -1)}`, '/callbacks/delivery/']) {
    for (const body of ['{"order_id":7}', 'not json']) {
      const res = await post(path, body)
      t.equal(res.status, 404, path)
      t.match(res.headers.get('content-type'), /^application\/problem\+json/)
      const problem = await res.json() as Record<string, unknown>
      t.same(Object.keys(problem).sort(), Object.keys(unknownBody).sort(), 'the same fields as an unknown route\'s')
      t.match(problem, { code: 'NOT_FOUND', title: unknownBody.title, type: unknownBody.type })
    }
  }
  t.equal(upstream.requests.length, calls, 'no vendor call')
})

/** What an answer shows of itself: status, header names (values that differ per request left out), content type, body fields. */
async function shape (res: Response) {
  const body = await res.json() as Record<string, unknown>
  const headers = [...res.headers.keys()].filter((name) => !['date', 'content-length'].includes(name)).sort()
  return { status: res.status, contentType: res.headers.get('content-type'), headers, keys: Object.keys(body).sort(), code: body.code, title: body.title, type: body.type }
}

t.test('no other method on the callback path shows it exists: each answers as an unknown path does', async (t) => {
  const { url, post } = await setup(t)
  const unknown = await shape(await fetch(`${url}/nowhere`))
  t.match(unknown, { status: 404, contentType: /^application\/problem\+json/, code: 'NOT_FOUND' })
  t.notOk(unknown.headers.includes('allow'))
  t.same(await shape(await post('/nowhere', '{"order_id":7}')), unknown, 'a POST to an unknown path: the same')
  for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
    for (const path of [`/callbacks/delivery/${TOKEN}`, '/callbacks/delivery/wrong-token']) {
      const body = method === 'GET' ? undefined : '{"order_id":7}'
      const res = await fetch(`${url}${path}`, { method, headers: { 'content-type': 'application/json' }, body })
      t.same(await shape(res), unknown, `${method} ${path === '/callbacks/delivery/wrong-token' ? 'a wrong token' : 'the token'}: no 405, no Allow`)
    }
  }
  const head = await fetch(`${url}/callbacks/delivery/${TOKEN}`, { method: 'HEAD' })
  t.equal(head.status, (await fetch(`${url}/nowhere`, { method: 'HEAD' })).status, 'HEAD as on an unknown path')
  t.equal(head.headers.get('allow'), null)
  t.same(await shape(await post('/callbacks/delivery/wrong-token', '{"order_id":7}')), unknown, 'a wrong token: the same')
  t.same(await shape(await post('/callbacks/nowhere', '{"order_id":7}')), unknown, 'another path under /callbacks: the same')
})

t.test('the token: JSON and form bodies are accepted with 204; a bad body is a 400 problem', async (t) => {
  const { upstream, post } = await setup(t)
  const accepted = await post(`/callbacks/delivery/${TOKEN}`, JSON.stringify({ method: 'device.delivery.response', order_id: 7, record_id: 71, deliver_status: '1', floor_status: 1, error_msg: '' }))
  t.equal(accepted.status, 204)
  t.equal(await accepted.text(), '')
  const form = await post(`/callbacks/delivery/${TOKEN}`, 'order_id=7&deliver_status=0&error_msg=jammed', 'application/x-www-form-urlencoded')
  t.equal(form.status, 204)
  const digits = await post(`/callbacks/delivery/${TOKEN}`, '{"order_id":"7"}')
  t.equal(digits.status, 204, 'an order id as a digit string')
  for (const body of ['{}', '{"order_id":"abc"}', '{"order_id":-1}', 'not json']) {
    const res = await post(`/callbacks/delivery/${TOKEN}`, body)
    t.equal(res.status, 400, body)
    t.match(await res.json(), { code: 'INVALID_REQUEST' })
  }
  const huge = await post(`/callbacks/delivery/${TOKEN}`, JSON.stringify({ order_id: 7, error_msg: 'x'.repeat(8192) }))
  t.equal(huge.status, 413)
  for (const type of ['application/xml', 'text/plain', 'text/plain; charset=utf-8', 'multipart/form-data; boundary=x']) {
    const other = await post(`/callbacks/delivery/${TOKEN}`, '{"order_id":7}', type)
    t.equal(other.status, 415, type)
    t.match(other.headers.get('content-type'), /^application\/problem\+json/)
    t.match(await other.json(), { code: 'INVALID_REQUEST', status: 415 }, `${type}: the documented 415`)
  }
  t.equal(upstream.requests.length, 0, 'nobody watches order 7: no vendor call')
})

t.test('a callback re-queries the watched order at once; its content is never served', async (t) => {
  const { url, upstream, post, setStatus } = await setup(t)
  const stream = await openEventStream(t, `${url}/orders/7/events?machine=16327129`)
  t.equal(JSON.parse((await stream.next())!.data!).status, 'NOTPAY')
  setStatus('SUCCESS')
  // it claims a failure; what watchers see is what the vendor then says
  t.equal((await post(`/callbacks/delivery/${TOKEN}`, '{"order_id":7,"deliver_status":"0","error_msg":"jammed"}')).status, 204)
  const changed = JSON.parse((await stream.next())!.data!)
  t.equal(changed.status, 'SUCCESS')
  t.notMatch(JSON.stringify(changed), /jammed/)
  t.equal(upstream.requests.length, 2)
})

t.test('the token never reaches the logs; the metrics count callbacks by outcome', async (t) => {
  const { logger, lines } = captureLogs()
  const metrics = createMetrics({ defaultMetrics: false })
  const { post } = await setup(t, { logger, metrics })
  await post(`/callbacks/delivery/${TOKEN}`, '{"order_id":7}')
  await post(`/callbacks/delivery/${TOKEN}`, '{}')
  await post(`/callbacks/delivery/${TOKEN}`, 'nope')
  await post('/callbacks/delivery/some-wrong-token', '{"order_id":7}')
  t.match(lines(), /\/callbacks\/delivery\/\[redacted\]/, 'the request lines are there, redacted')
  t.notMatch(lines(), TOKEN)
  t.notMatch(lines(), 'some-wrong-token', 'a wrong guess is not logged either')
  const text = await metrics.registry.metrics()
  t.match(text, /^delivery_callbacks_total\{outcome="accepted"\} 1$/m)
  t.match(text, /^delivery_callbacks_total\{outcome="invalid"\} 2$/m)
  t.match(text, /^delivery_callbacks_total\{outcome="refused"\} 1$/m)
})

t.test('no CALLBACK_TOKEN: no callback route at all', async (t) => {
  const upstream = await startUpstream(t, (req, res) => { answerOrder(req, res) })
  const app = await buildTestApp(t, upstream.url)
  const res = await app.inject({ method: 'POST', url: `/callbacks/delivery/${TOKEN}`, payload: { order_id: 7 } })
  t.equal(res.statusCode, 404)
})
