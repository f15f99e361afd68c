import fastify, { type FastifyRequest } from 'fastify'
import t, { type Test } from 'tap'
import type { AppConfig } from '../../src/bootstrap/app.js'
import { loadConfig } from '../../src/config/config.js'
import { authPlugin } from '../../src/plugins/auth.js'
import { problemsPlugin } from '../../src/plugins/problems.js'
import { clientAddress, peerAddress } from '../../src/http/client-key.js'
import { rateLimitPlugin } from '../../src/plugins/rate-limit.js'
import { sharedStatePlugin } from '../../src/plugins/shared-state.js'
import { assertProblem, buildTestApp, json, startUpstream } from '../helper.js'

const ORDER = '/orders/54?machine=16327129'
const KEY_A = 'ka_' + 'a1'.repeat(20)
const KEY_B = 'kb_' + 'b2'.repeat(20)

// thousands of requests in a row: load shedding on a busy test machine would answer some with 503s
const NO_SHEDDING = { MAX_EVENT_LOOP_DELAY_MS: '0', MAX_RSS_BYTES: '0' }

async function setup (t: Test, overrides: Partial<AppConfig>, env: Record<string, string> = {}) {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: { order_id: 54, status: 'SUCCESS' } }))
  const app = await buildTestApp(t, upstream.url, overrides, {}, env)
  return { upstream, app }
}

t.test('the limit+1-th request gets a 429 problem with Retry-After and the rate-limit headers', async (t) => {
  const { app, upstream } = await setup(t, { rateLimitMax: 3, rateLimitWindowMs: 60_000 })
  for (const remaining of [2, 1, 0]) {
    const res = await app.inject({ url: ORDER })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-ratelimit-limit'], '3')
    t.equal(res.headers['x-ratelimit-remaining'], String(remaining))
    t.ok(Number(res.headers['x-ratelimit-reset']) > 0)
  }
  const limited = await app.inject({ url: ORDER })
  const body = assertProblem(t, limited, 429, 'RATE_LIMITED')
  t.match(body, { type: 'urn:vending-orders:problem:rate-limited', title: 'Too many requests', detail: /More than 3 requests in 60 s/ })
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `Retry-After is the seconds left in the window (${retryAfter})`)
  t.equal(limited.headers['x-ratelimit-limit'], '3')
  t.equal(limited.headers['x-ratelimit-remaining'], '0')
  t.equal(limited.headers['x-ratelimit-reset'], String(retryAfter))
  t.equal(upstream.requests.length, 3, 'the limited request never reached the vendor')
  // bad input counts too: the limit protects the service, not only the vendor
  assertProblem(t, await app.inject({ url: '/orders/007?machine=1' }), 429, 'RATE_LIMITED')
})

t.test('the window ends: requests are allowed again (on a fake clock)', async (t) => {
  let now = 5_000
  const app = fastify()
  await app.register(problemsPlugin)
  await app.register(authPlugin, { keys: [] })
  await app.register(sharedStatePlugin, { config: loadConfig({}) })
  await app.register(rateLimitPlugin, { max: 1, windowMs: 1000, now: () => now })
  app.get('/limited', async () => 'ok')
  t.teardown(() => app.close())

  t.equal((await app.inject({ url: '/limited' })).statusCode, 200)
  now += 400
  const limited = await app.inject({ url: '/limited' })
  t.equal(limited.statusCode, 429)
  t.equal(limited.headers['retry-after'], '1', 'Retry-After counts down on the same clock')
  now += 599
  t.equal((await app.inject({ url: '/limited' })).statusCode, 429, 'a millisecond before the window ends')
  now += 1
  const again = await app.inject({ url: '/limited' })
  t.equal(again.statusCode, 200)
  t.equal(again.headers['x-ratelimit-remaining'], '0')
  t.equal(again.headers['x-ratelimit-reset'], '1', 'a new window of its own')
})

t.test('the rate limit counts by what auth found: without auth before it, it does not start', async (t) => {
  const bare = fastify()
  t.teardown(() => bare.close())
  await bare.register(sharedStatePlugin, { config: loadConfig({}) })
  await t.rejects(async () => { await bare.register(rateLimitPlugin, { max: 1, windowMs: 1000 }) }, /apiKeyId/)
  const decoratedByHand = fastify()
  t.teardown(() => decoratedByHand.close())
  decoratedByHand.decorateRequest('apiKeyId', undefined)
  await decoratedByHand.register(sharedStatePlugin, { config: loadConfig({}) })
  await t.rejects(async () => { await decoratedByHand.register(rateLimitPlugin, { max: 1, windowMs: 1000 }) }, /auth/, 'auth\'s hook sets it')
})

t.test('with keys on, every key has its own budget, wherever its requests come from', async (t) => {
  const { app } = await setup(t, { apiKeys: [KEY_A, KEY_B], rateLimitMax: 2 })
  const asKey = (key: string, remoteAddress = '127.0.0.1') => app.inject({ url: ORDER, remoteAddress, headers: { authorization: `Bearer ${key}` } })
  t.equal((await asKey(KEY_A)).statusCode, 200)
  t.equal((await asKey(KEY_A, '10.0.0.7')).statusCode, 200)
  assertProblem(t, await asKey(KEY_A, '10.0.0.8'), 429, 'RATE_LIMITED')
  t.equal((await asKey(KEY_B)).statusCode, 200, 'another key is not limited by the first one')
  t.equal((await asKey(KEY_B)).statusCode, 200)
  t.equal((await asKey(KEY_B)).statusCode, 429)
  // rejected keys count against the client address, whose budget the keys' requests left alone
  t.equal((await app.inject({ url: ORDER, headers: { authorization: 'Bearer nope' } })).statusCode, 401)
  t.equal((await app.inject({ url: ORDER, headers: { authorization: 'Bearer nope' } })).statusCode, 401)
  assertProblem(t, await app.inject({ url: ORDER, headers: { authorization: 'Bearer nope' } }), 429, 'RATE_LIMITED')
  t.equal((await asKey(KEY_B, '10.0.0.9')).statusCode, 429, 'and they did not reset a key\'s budget')
})

t.test('with keys off, every client address has its own budget', async (t) => {
  const { app } = await setup(t, { rateLimitMax: 1 })
  t.equal((await app.inject({ url: ORDER, remoteAddress: '192.0.2.1' })).statusCode, 200)
  t.equal((await app.inject({ url: ORDER, remoteAddress: '192.0.2.1' })).statusCode, 429)
  t.equal((await app.inject({ url: ORDER, remoteAddress: '192.0.2.2' })).statusCode, 200)
  t.equal((await app.inject({ url: ORDER, remoteAddress: '2001:db8::1' })).statusCode, 200)
  t.equal((await app.inject({ url: ORDER, remoteAddress: '2001:db8::2' })).statusCode, 429, 'an IPv6 /64 is one client')
})

t.test('client buckets: IPv4 as it is, IPv6 by its /64, IPv4-mapped IPv6 as the IPv4 address', async (t) => {
  t.equal(clientAddress('192.0.2.1'), '192.0.2.1')
  t.equal(clientAddress('2001:db8::1'), clientAddress('2001:db8:0:0:ffff::2'))
  t.not(clientAddress('2001:db8::1'), clientAddress('2001:db8:0:1::1'), 'another /64 is another client')
  t.equal(clientAddress('::ffff:192.0.2.1'), '192.0.2.1')
  t.equal(clientAddress('2001:DB8::1'), clientAddress('2001:db8::1'))
})

t.test('X-Forwarded-For counts only from a trusted proxy', async (t) => {
  const untrusting = (await setup(t, { rateLimitMax: 1 })).app
  t.equal((await untrusting.inject({ url: ORDER, headers: { 'x-forwarded-for': '198.51.100.1' } })).statusCode, 200)
  t.equal((await untrusting.inject({ url: ORDER, headers: { 'x-forwarded-for': '198.51.100.2' } })).statusCode, 429,
    'without TRUST_PROXY a client cannot buy a fresh budget with a made-up header')

  const behindProxy = (await setup(t, { rateLimitMax: 1, trustProxy: ['127.0.0.1'] })).app
  t.equal((await behindProxy.inject({ url: ORDER, headers: { 'x-forwarded-for': '198.51.100.1' } })).statusCode, 200)
  t.equal((await behindProxy.inject({ url: ORDER, headers: { 'x-forwarded-for': '198.51.100.1' } })).statusCode, 429)
  t.equal((await behindProxy.inject({ url: ORDER, headers: { 'x-forwarded-for': '198.51.100.2' } })).statusCode, 200, 'the proxy says it is another client')
  t.equal((await behindProxy.inject({ url: ORDER, remoteAddress: '203.0.113.9', headers: { 'x-forwarded-for': '198.51.100.3' } })).statusCode, 200)
  t.equal((await behindProxy.inject({ url: ORDER, remoteAddress: '203.0.113.9', headers: { 'x-forwarded-for': '198.51.100.4' } })).statusCode, 429,
    'a peer that is not the trusted proxy is counted by its own address')
})

t.test('a forwarded value that is not an IP address is never a bucket: the trusted proxy\'s is used', async (t) => {
  const { app } = await setup(t, { rateLimitMax: 3, trustProxy: ['127.0.0.1'] })
  const forged = ['foo', '<script>', 'x'.repeat(2000), '198.51.100.1:4711', '', 'unknown', '::ffff:not-an-ip', '2001:db8::zz']
  const statuses: number[] = []
  for (const value of forged) {
    const res = await app.inject({ url: ORDER, headers: { 'x-forwarded-for': value } })
    statuses.push(res.statusCode)
  }
  t.same(statuses, [200, 200, 200, 429, 429, 429, 429, 429], 'all of them counted as the proxy, one bucket')
  t.equal((await app.inject({ url: ORDER, headers: { 'x-forwarded-for': 'foo, 198.51.100.1' } })).statusCode, 200,
    'the address the proxy appended is still the client')
  t.equal(peerAddress({ ip: '<script>', socket: { remoteAddress: '127.0.0.1' } } as unknown as FastifyRequest), '127.0.0.1')
  t.equal(peerAddress({ ip: '198.51.100.1', socket: { remoteAddress: '127.0.0.1' } } as unknown as FastifyRequest), '198.51.100.1')
})

t.test('thousands of new addresses do not reset a limited client', async (t) => {
  const { app } = await setup(t, { rateLimitMax: 2 }, NO_SHEDDING)
  const limitedClient = '192.0.2.77'
  for (let i = 0; i < 2; i++) t.equal((await app.inject({ url: ORDER, remoteAddress: limitedClient })).statusCode, 200)
  assertProblem(t, await app.inject({ url: ORDER, remoteAddress: limitedClient }), 429, 'RATE_LIMITED')

  // one IPv6 /48 holds 65,536 /64s, each a client; bad input is counted too and never reaches the vendor
  let answered = 0
  for (let i = 0; i < 6000; i++) {
    const res = await app.inject({ url: '/orders/007?machine=1', remoteAddress: `2001:db8:48:${i.toString(16)}::1` })
    if (res.statusCode === 400) answered++
  }
  t.equal(answered, 6000, 'every new address had a budget of its own')
  assertProblem(t, await app.inject({ url: ORDER, remoteAddress: limitedClient }), 429, 'RATE_LIMITED')
})

t.test('docs and health are not rate limited', async (t) => {
  const { app } = await setup(t, { rateLimitMax: 1 })
  for (let i = 0; i < 3; i++) {
    for (const url of ['/health/live', '/health/ready', '/docs/json']) {
      const res = await app.inject({ url })
      t.equal(res.statusCode, 200, url)
      t.notOk(res.headers['x-ratelimit-limit'], `${url} has no rate-limit headers`)
    }
  }
})
