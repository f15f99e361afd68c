import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import type { AppConfig } from '../../src/bootstrap/app.js'
import { CORS_ALLOWED_HEADERS, CORS_EXPOSED_HEADERS } from '../../src/plugins/cors.js'
import { assertProblem, buildTestApp, captureLogs, json, openEventStream, startUpstream } from '../helper.js'

const ALLOWED = 'https://app.example.com'
const OTHER = 'https://evil.example.net'
const ORDER = '/orders/54?machine=16327129'
const KEY = 'ka_' + 'a1'.repeat(20)

async function setup (t: Test, overrides: Partial<AppConfig>, deps = {}) {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: { order_id: 54, status: 'SUCCESS' } }))
  return buildTestApp(t, upstream.url, overrides, deps)
}

const preflight = (origin: string) => ({
  method: 'OPTIONS' as const,
  url: ORDER,
  headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization,x-request-id' }
})

const corsHeaders = (headers: Record<string, unknown>) => Object.keys(headers).filter((name) => name.startsWith('access-control-'))

t.test('a preflight from an allowed origin succeeds, without an API key', async (t) => {
  const app = await setup(t, { corsOrigins: [ALLOWED, 'http://localhost:5173'], apiKeys: [KEY] })
  const res = await app.inject(preflight(ALLOWED))
  t.equal(res.statusCode, 204)
  t.equal(res.headers['access-control-allow-origin'], ALLOWED)
  t.equal(res.headers['access-control-allow-methods'], 'GET, HEAD, OPTIONS')
  t.equal(res.headers['access-control-allow-headers'], 'authorization, x-request-id, if-none-match, prefer, last-event-id')
  t.equal(res.headers['access-control-max-age'], '600')
  t.notOk(res.headers['access-control-allow-credentials'])
  t.match(res.headers.vary, /Origin/)
})

t.test('a preflight from another origin gets no CORS headers, and a 403 saying the origin is not allowed', async (t) => {
  const app = await setup(t, { corsOrigins: [ALLOWED] })
  for (const origin of [OTHER, ALLOWED + '.evil.net', 'http://app.example.com', 'null']) {
    const res = await app.inject(preflight(origin))
    t.same(corsHeaders(res.headers), [], origin)
    const body = assertProblem(t, res, 403, 'ORIGIN_NOT_ALLOWED')
    t.match(body.detail, /origin is not in the deployment's CORS allowlist \(CORS_ORIGINS\)/, 'it says why, not "no route"')
    t.notMatch(body.detail, origin, 'the origin is not echoed')
    t.match(res.headers.vary, /Origin/, 'the answer varies by origin')
  }
  const elsewhere = await app.inject({ ...preflight(OTHER), url: '/no/such/path' })
  assertProblem(t, elsewhere, 403, 'ORIGIN_NOT_ALLOWED')
})

t.test('an OPTIONS that is not a preflight is answered as before: no route', async (t) => {
  const app = await setup(t, { corsOrigins: [ALLOWED] })
  const withoutMethod = await app.inject({ method: 'OPTIONS', url: ORDER, headers: { origin: OTHER } })
  assertProblem(t, withoutMethod, 404, 'NOT_FOUND')
  const withoutOrigin = await app.inject({ method: 'OPTIONS', url: ORDER, headers: { 'access-control-request-method': 'GET' } })
  assertProblem(t, withoutOrigin, 404, 'NOT_FOUND')
  t.same(corsHeaders(withoutOrigin.headers), [])
})

t.test('answers to an allowed origin carry CORS headers, errors included; other origins get none', async (t) => {
  const app = await setup(t, { corsOrigins: [ALLOWED], apiKeys: [KEY] })
  const ok = await app.inject({ url: ORDER, headers: { origin: ALLOWED, authorization: `Bearer ${KEY}` } })
  t.equal(ok.statusCode, 200)
  t.equal(ok.headers['access-control-allow-origin'], ALLOWED)
  t.same(String(ok.headers['access-control-expose-headers']).split(', '),
    ['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'etag', 'cache-status', 'preference-applied'])
  const unauthorized = await app.inject({ url: ORDER, headers: { origin: ALLOWED } })
  t.equal(unauthorized.statusCode, 401)
  t.equal(unauthorized.headers['access-control-allow-origin'], ALLOWED, 'a browser app can read why it was refused')
  const other = await app.inject({ url: ORDER, headers: { origin: OTHER, authorization: `Bearer ${KEY}` } })
  t.equal(other.statusCode, 200, 'CORS is the browser\'s business: the request itself is answered')
  t.same(corsHeaders(other.headers), [])
})

t.test('in production with CORS_ORIGINS unset, no origin is allowed', async (t) => {
  const app = await setup(t, { mode: 'production', corsOrigins: null })
  for (const origin of [ALLOWED, OTHER]) {
    const refused = await app.inject(preflight(origin))
    t.same(corsHeaders(refused.headers), [])
    assertProblem(t, refused, 403, 'ORIGIN_NOT_ALLOWED')
    const answer = await app.inject({ url: ORDER, headers: { origin } })
    t.equal(answer.statusCode, 200)
    t.same(corsHeaders(answer.headers), [])
    t.notMatch(String(answer.headers.vary), /origin/i, 'an answer that never varies by origin says nothing about it')
  }
})

t.test('outside demo mode with CORS_ORIGINS unset, no origin is allowed either', async (t) => {
  const app = await setup(t, { corsOrigins: null, mode: 'development' })
  const refused = await app.inject(preflight(ALLOWED))
  t.same(corsHeaders(refused.headers), [])
  assertProblem(t, refused, 403, 'ORIGIN_NOT_ALLOWED')
})

t.test('demo mode with CORS_ORIGINS unset allows every origin, and says so', async (t) => {
  const { logger, lines } = captureLogs()
  const app = await setup(t, { corsOrigins: null, mode: 'demo' }, { logger })
  const res = await app.inject(preflight(OTHER))
  t.equal(res.statusCode, 204)
  t.equal(res.headers['access-control-allow-origin'], '*')
  t.equal((await app.inject({ url: ORDER, headers: { origin: OTHER } })).headers['access-control-allow-origin'], '*')
  t.match(lines(), /"level":40,.*CORS: demo mode allows every origin/)
})

t.test('demo mode with CORS_ORIGINS set keeps to the allowlist', async (t) => {
  const app = await setup(t, { corsOrigins: [ALLOWED], mode: 'demo' })
  t.equal((await app.inject(preflight(ALLOWED))).headers['access-control-allow-origin'], ALLOWED)
  const refused = await app.inject(preflight(OTHER))
  t.same(corsHeaders(refused.headers), [])
  assertProblem(t, refused, 403, 'ORIGIN_NOT_ALLOWED')
})

t.test('an event stream carries the CORS headers of its origin', async (t) => {
  const app = await setup(t, { corsOrigins: [ALLOWED] })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  const stream = await openEventStream(t, `${url}/orders/54/events?machine=16327129`, { origin: ALLOWED })
  t.equal(stream.status, 200)
  t.equal(stream.headers['access-control-allow-origin'], ALLOWED)
  t.match(stream.headers['access-control-expose-headers'], /x-request-id/)
  stream.close()
})

t.test('docs/operations.md\'s CORS section names every request header browsers may send and every exposed header', async (t) => {
  const text = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8')
  const section = (/^## CORS\n([\s\S]*?)(?=^## )/m.exec(text)?.[1] ?? '').toLowerCase()
  t.ok(section.length > 0, 'the section was found')
  for (const header of [...CORS_ALLOWED_HEADERS, ...CORS_EXPOSED_HEADERS]) t.ok(section.includes(`\`${header}\``), header)
})
