import t, { type Test } from 'tap'
import type { AppConfig } from '../../src/bootstrap/app.js'
import { assertProblem, buildTestApp, json, startUpstream } from '../helper.js'

const KEY_A = 'ka_' + 'a1'.repeat(20)
const KEY_B = 'kb_' + 'b2'.repeat(20)
const ORDER = '/orders/54?machine=16327129'

async function setup (t: Test, apiKeys: string[], overrides: Partial<AppConfig> = {}, env: Record<string, string> = {}) {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: { order_id: 54, status: 'SUCCESS' } }))
  const app = await buildTestApp(t, upstream.url, { apiKeys, ...overrides }, {}, env)
  return { upstream, app }
}

t.test('auth off: no key needed, and a sent one is ignored', async (t) => {
  const { app, upstream } = await setup(t, [])
  t.equal((await app.inject({ url: ORDER })).statusCode, 200)
  t.equal((await app.inject({ url: ORDER, headers: { authorization: 'Bearer whatever' } })).statusCode, 200)
  t.equal(upstream.requests.length, 2)
})

t.test('auth on: missing, malformed or wrong keys get a 401 problem that never reaches the vendor', async (t) => {
  const { app, upstream } = await setup(t, [KEY_A, KEY_B])
  const missing = await app.inject({ url: ORDER })
  assertProblem(t, missing, 401, 'UNAUTHORIZED')
  t.equal(missing.headers['www-authenticate'], 'Bearer')
  t.match(missing.json(), { type: 'urn:vending-orders:problem:unauthorized', title: 'Unauthorized' })

  for (const authorization of ['Basic ' + Buffer.from('u:p').toString('base64'), 'Bearer', 'Bearer ', `Bearer ${KEY_A} extra`, KEY_A, `Token ${KEY_A}`]) {
    const res = await app.inject({ url: ORDER, headers: { authorization } })
    assertProblem(t, res, 401, 'UNAUTHORIZED')
    t.equal(res.headers['www-authenticate'], 'Bearer', `malformed: ${authorization.slice(0, 12)}`)
  }
  for (const wrong of [KEY_A.slice(0, -1), KEY_A + 'x', KEY_A.toUpperCase(), 'x'.repeat(40), 'short']) {
    const res = await app.inject({ url: ORDER, headers: { authorization: `Bearer ${wrong}` } })
    const body = assertProblem(t, res, 401, 'UNAUTHORIZED')
    t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
    t.notMatch(JSON.stringify(body), wrong, 'the presented key is never echoed')
  }
  const invalidInput = await app.inject({ url: '/orders/007?machine=x' })
  assertProblem(t, invalidInput, 401, 'UNAUTHORIZED')
  t.equal(upstream.requests.length, 0, 'nothing unauthenticated reached the vendor')
})

t.test('a flood of wrong or missing keys is limited by the client address, and never uses a valid key\'s budget', async (t) => {
  // load shedding off: on a busy test machine it would answer some of the 500 with 503s
  const { app, upstream } = await setup(t, [KEY_A], { rateLimitMax: 5 }, { MAX_EVENT_LOOP_DELAY_MS: '0', MAX_RSS_BYTES: '0' })
  const statuses: number[] = []
  let last
  for (let i = 0; i < 500; i++) {
    // rotating keys, every tenth request with none at all
    const headers = i % 10 === 0 ? {} : { authorization: `Bearer guess-${i}-${'g'.repeat(32)}` }
    last = await app.inject({ url: ORDER, headers })
    const retryAfter = Number(last.headers['retry-after'])
    const limitedRight = last.statusCode === 429 && retryAfter > 0 && retryAfter <= 60 && last.headers['www-authenticate'] === undefined
    statuses.push(limitedRight ? 0 : last.statusCode)
  }
  t.same(statuses.slice(0, 5), [401, 401, 401, 401, 401], 'the first RATE_LIMIT_MAX failures are answered as such')
  t.same(statuses.slice(5), new Array(495).fill(0), 'every later one is a 429 with Retry-After and no challenge')
  assertProblem(t, last!, 429, 'RATE_LIMITED')

  const valid = await app.inject({ url: ORDER, headers: { authorization: `Bearer ${KEY_A}` } })
  t.equal(valid.statusCode, 200, 'a valid key from the same address still works')
  t.equal(valid.headers['x-ratelimit-remaining'], '4', 'its budget is untouched by the failures')
  assertProblem(t, await app.inject({ url: ORDER, remoteAddress: '192.0.2.50', headers: { authorization: 'Bearer nope' } }), 401, 'UNAUTHORIZED')
  t.equal(upstream.requests.length, 1, 'only the valid request reached the vendor')
})

t.test('auth on: either configured key works, the scheme in any case', async (t) => {
  const { app, upstream } = await setup(t, [KEY_A, KEY_B])
  for (const authorization of [`Bearer ${KEY_A}`, `bearer ${KEY_B}`, `BEARER  ${KEY_A}`]) {
    const res = await app.inject({ url: ORDER, headers: { authorization } })
    t.equal(res.statusCode, 200)
    t.notOk(res.headers['www-authenticate'])
  }
  const bad = await app.inject({ url: '/orders/007?machine=16327129', headers: { authorization: `Bearer ${KEY_A}` } })
  assertProblem(t, bad, 400, 'INVALID_REQUEST')
  t.equal(upstream.requests.length, 3)
})

t.test('auth on: docs, health and unknown routes need no key', async (t) => {
  const { app } = await setup(t, [KEY_A])
  for (const url of ['/docs/', '/docs/json', '/docs/static/swagger-ui-bundle.js', '/health/live', '/health/ready']) {
    t.equal((await app.inject({ url })).statusCode, 200, url)
  }
  assertProblem(t, await app.inject({ url: '/nope' }), 404, 'NOT_FOUND')
})
