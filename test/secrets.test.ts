import t from 'tap'
import { ConfigError, loadConfig } from '../src/config/config.js'
import { createMetrics } from '../src/observability/metrics.js'
import { buildMetricsServer } from '../src/observability/metrics-server.js'
import { requireRedisServer, startRedisServer } from './fixtures/redis-server.js'
import { buildTestApp, captureLogs, json, startUpstream, TEST_CREDENTIALS, until } from './helper.js'

const SECRETS = Object.values(TEST_CREDENTIALS)

t.test('after every error path, neither logs nor responses contain a credential', async (t) => {
  const modes = ['ok', 'reset', 'html', 'garbage', 'slow', 'huge', 10008, 10013, 10014, 4006, 80002, 30002, 77777]
  let mode: string | number = 'ok'
  const upstream = await startUpstream(t, (req, res) => {
    // a vendor that echoes what it got would be the worst case: make it echo the headers
    if (typeof mode === 'number') json(res, mode < 20000 ? 401 : 200, { code: mode, message: JSON.stringify(req.headers), data: {} })
    else if (mode === 'reset') req.socket.destroy()
    else if (mode === 'html') { res.writeHead(502, { 'content-type': 'text/html' }); res.end(`<pre>${JSON.stringify(req.headers)}</pre>`) } else if (mode === 'garbage') { res.writeHead(200); res.end(`oops ${JSON.stringify(req.headers)}`) } else if (mode === 'slow') setTimeout(() => json(res, 200, { code: 0, data: {} }), 500)
    else if (mode === 'huge') json(res, 200, { code: 0, data: { trade_id: 'x'.repeat(100_000) } })
    else json(res, 200, { code: 0, message: 'ok', data: { order_id: 54, status: 'SUCCESS' } })
  })
  const { logger, lines } = captureLogs()
  const app = await buildTestApp(t, upstream.url, { vendorTimeoutMs: 200 }, { logger })

  const bodies: string[] = []
  for (const m of modes) {
    mode = m
    const res = await app.inject({ url: '/orders/54?machine=16327129', headers: { authorization: 'Bearer caller-token-should-not-be-logged' } })
    bodies.push(JSON.stringify(res.headers) + res.body)
  }
  for (const url of ['/orders/0?machine=1', '/nope', '/docs/json']) {
    const res = await app.inject({ url })
    bodies.push(JSON.stringify(res.headers) + res.body)
  }

  const logs = lines()
  t.match(logs, /"level":50/, 'credential rejections were logged at error level')
  t.match(logs, /"vendorCode":10013/, 'with the vendor code')
  t.match(logs, /UPSTREAM_TIMEOUT/)
  for (const secret of SECRETS) {
    t.notMatch(logs, secret, 'logs do not contain a credential')
    for (const body of bodies) t.notMatch(body, secret, 'responses do not contain a credential')
  }
  t.notMatch(logs, 'caller-token-should-not-be-logged', 'the caller\'s authorization header is redacted')
})

t.test('with keys, rate limiting and metrics on, no error path leaks a vendor credential or an API key', async (t) => {
  const keys = ['sk_live_' + 'Q7w'.repeat(11), 'sk_live_' + 'Z3x'.repeat(11)]
  const nearMiss = keys[0]!.slice(0, -1) + 'Y'
  let mode: string | number = 'ok'
  const upstream = await startUpstream(t, (req, res) => {
    // an echoing vendor again: every header we send comes back in its answer
    if (typeof mode === 'number') json(res, mode === 10008 ? 401 : 200, { code: mode, message: JSON.stringify(req.headers), data: {} })
    else if (mode === 'reset') req.socket.destroy()
    else if (mode === 'garbage') { res.writeHead(200); res.end(`oops ${JSON.stringify(req.headers)}`) } else if (mode === 'slow') setTimeout(() => json(res, 200, { code: 0, data: {} }), 500)
    else json(res, 200, { code: 0, message: 'ok', data: { order_id: 54, status: 'SUCCESS' } })
  })
  const { logger, lines } = captureLogs()
  const metrics = createMetrics()
  const app = await buildTestApp(t, upstream.url, { vendorTimeoutMs: 200, apiKeys: keys, rateLimitMax: 12, corsOrigins: ['https://app.example.com'] }, { logger, metrics })
  const metricsServer = buildMetricsServer(metrics.registry)
  t.teardown(() => metricsServer.close())
  const metricsUrl = `${await metricsServer.listen({ port: 0, host: '127.0.0.1' })}/metrics`

  const answers: string[] = []
  const ask = async (url: string, headers: Record<string, string> = {}, method: 'GET' | 'OPTIONS' = 'GET') => {
    const res = await app.inject({ method, url, headers })
    answers.push(JSON.stringify(res.headers) + res.body)
    return res
  }
  const withKey = { authorization: `Bearer ${keys[0]}` }
  for (const m of ['ok', 'reset', 'garbage', 'slow', 10008, 4006, 80002, 30002, 77777]) {
    mode = m
    await ask('/orders/54?machine=16327129', withKey)
  }
  mode = 'ok'
  t.equal((await ask('/orders/54?machine=16327129')).statusCode, 401)
  t.equal((await ask('/orders/54?machine=16327129', { authorization: `Bearer ${nearMiss}` })).statusCode, 401)
  t.equal((await ask('/orders/54?machine=16327129', { authorization: `Basic ${Buffer.from(`u:${keys[1]}`).toString('base64')}` })).statusCode, 401)
  t.equal((await ask('/orders/007?machine=x', withKey)).statusCode, 400)
  t.equal((await ask('/orders/%zz', withKey)).statusCode, 400)
  t.equal((await ask(`/orders/${'9'.repeat(101)}`, withKey)).statusCode, 414)
  t.equal((await ask('/nope', withKey)).statusCode, 404)
  await ask('/orders/54?machine=16327129', { origin: 'https://app.example.com', 'access-control-request-method': 'GET' }, 'OPTIONS')
  await ask('/docs/json')
  let limited = 0
  for (let i = 0; i < 15; i++) if ((await ask('/orders/54?machine=16327129', { authorization: `Bearer ${keys[1]}` })).statusCode === 429) limited++
  for (let i = 0; i < 10; i++) if ((await ask('/orders/54?machine=16327129', withKey)).statusCode === 429) limited++
  t.ok(limited > 0, 'the rate limit answered too')

  // should the config ever be logged, the keys are redacted like the vendor credentials
  logger.info({ config: { apiKeys: keys } }, 'config')
  const exposition = await (await fetch(metricsUrl)).text()
  t.match(exposition, /http_request_duration_seconds_count\{route="\/orders\/:id",method="GET",status="429"\}/)
  const logs = lines()
  t.match(logs, /"statusCode":401/, 'the 401s were logged')
  for (const secret of [...SECRETS, ...keys, nearMiss]) {
    t.notMatch(logs, secret, 'logs do not contain a credential or key')
    t.notMatch(exposition, secret, 'metrics do not contain a credential or key')
    for (const answer of answers) t.notMatch(answer, secret, 'answers do not contain a credential or key')
  }
})

t.test('the Redis signing keys are in no log line, answer, metric, config error or the OpenAPI document', async (t) => {
  if (!requireRedisServer(t)) return
  const key = 'redis-signing-key-never-shown-' + 'K7q'.repeat(8)
  const previous = 'redis-previous-key-never-shown-' + 'P3z'.repeat(8)
  const redis = await startRedisServer(t)
  const upstream = await startUpstream(t, (_req, res) => { json(res, 200, { code: 0, data: { order_id: 54, status: 'SUCCESS' } }) })
  const { logger, lines } = captureLogs()
  const metrics = createMetrics({ defaultMetrics: false })
  const env = { CACHE_ENABLED: 'true', REDIS_URL: redis.url, REDIS_SIGNING_KEY: key, REDIS_SIGNING_KEY_PREVIOUS: previous, LOG_LEVEL: 'trace' }
  const app = await buildTestApp(t, upstream.url, {}, { logger, metrics }, env)
  const { Redis } = await import('ioredis')
  const raw = new Redis(redis.url, { keyPrefix: 'vending-bff:' })
  t.teardown(() => raw.disconnect())

  const answers: string[] = []
  const ask = async (url: string) => {
    const res = await app.inject({ url })
    answers.push(JSON.stringify(res.headers) + res.body)
  }
  await ask('/orders/54?machine=16327129')
  // every way a value or message can be refused, so each refusal's log line is written
  await raw.set('outcome:55:16327129', 'v1.' + 'A'.repeat(43) + '.{}')
  await raw.hset('outcome:56:16327129', 'a', 'b')
  await raw.set('lock:57:16327129', 'nobody')
  await raw.publish('vending-bff:changes', '{"forged":true}')
  for (const id of [55, 56, 57]) await ask(`/orders/${id}?machine=16327129`)
  await ask('/docs/json')
  await until(async () => /redis_rejected_total\{reason="signature"\} [1-9]/.test(await metrics.registry.metrics()))
  logger.info({ config: app.initialConfig }, 'fastify config')
  logger.info({ config: loadConfig(env) }, 'config')
  logger.info(loadConfig(env).redisTrust, 'the settings spread into a line')

  const problems: string[] = []
  for (const bad of <Array<Record<string, string | undefined>>>[{ REDIS_SIGNING_KEY: key.slice(0, 20) }, { REDIS_SIGNING_KEY: `REPLACE_ME${key}`, NODE_ENV: 'production' }, { REDIS_SIGNING_KEY: undefined }]) {
    try {
      loadConfig({ ...env, ...bad })
    } catch (error) {
      if (error instanceof ConfigError) problems.push(error.message)
    }
  }
  t.equal(problems.length, 3, 'each refused')

  const logs = lines()
  t.match(logs, /"redis":"rejected"/, 'the refusals were logged')
  const exposition = await metrics.registry.metrics()
  const stored = JSON.stringify(await Promise.all((await raw.keys('*')).map(async (name) => await raw.type(name.slice('vending-bff:'.length)) === 'string' ? await raw.get(name.slice('vending-bff:'.length)) : '')))
  for (const secret of [key, previous, key.slice(0, 20)]) {
    t.notMatch(logs, secret, 'not in the logs')
    t.notMatch(exposition, secret, 'not in the metrics')
    t.notMatch(problems.join('\n'), secret, 'not in a config error')
    t.notMatch(stored, secret, 'not in Redis')
    for (const answer of answers) t.notMatch(answer, secret, 'not in an answer or the OpenAPI document')
  }
})
