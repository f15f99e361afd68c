import t from 'tap'
import { assertProblem, buildTestApp, json, startUpstream } from '../helper.js'

t.test('URLs Fastify cannot route are answered as problem+json, without echoing them', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, {}))
  const app = await buildTestApp(t, upstream.url)
  for (const url of ['/%', '/orders/%zz?machine=16327129', '/docs/%E0%A4%A', "/N/'0Og/%/?a=1"]) {
    const res = await app.inject({ url, headers: { 'x-request-id': 'bad-url-1' } })
    const body = assertProblem(t, res, 400, 'INVALID_REQUEST')
    t.equal(body.requestId, 'bad-url-1')
    t.notMatch(res.body, url.split('?')[0]!.slice(1) || '%', 'the URL is not echoed')
  }
  const long = await app.inject({ url: `/orders/${'1'.repeat(101)}?machine=16327129` })
  t.match(assertProblem(t, long, 414, 'INVALID_REQUEST'), { title: 'URI Too Long' })
  t.match(long.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  t.equal(upstream.requests.length, 0)
})
