import { readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { createMetrics, registerRedisMetrics, vendorCallHooks } from '../../src/observability/metrics.js'
import { buildMetricsServer } from '../../src/observability/metrics-server.js'
import { answerOrder, assertProblem, buildTestApp, fakeClock, json, startUpstream, until } from '../helper.js'

const KEY = 'ka_' + 'a1'.repeat(20)
const AUTH = { authorization: `Bearer ${KEY}` }

/** The value of the one sample of `name` whose labels include `labels`; undefined when there is none. */
function sample (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match?.[1] !== name) continue
    const present = (match[2] ?? '').split(',')
    if (wanted.every((pair) => present.includes(pair))) return Number(match[3])
  }
  return undefined
}

async function startMetricsServer (t: Test, registry: ReturnType<typeof createMetrics>['registry']): Promise<string> {
  const server: FastifyInstance = buildMetricsServer(registry)
  t.teardown(() => server.close())
  return `${await server.listen({ port: 0, host: '127.0.0.1' })}/metrics`
}

t.test('after traffic, /metrics on the metrics port has every series with plausible values', async (t) => {
  let mode: number | string = 0
  const upstream = await startUpstream(t, (req, res) => {
    if (mode === 'reset') req.socket.destroy()
    else if (mode === 'slow') setTimeout(() => json(res, 200, { code: 0, data: { order_id: 54 } }), 400)
    else json(res, 200, { code: mode, message: 'm', data: { order_id: 54, status: 'SUCCESS' } })
  })
  const metrics = createMetrics()
  const app = await buildTestApp(t, upstream.url, { apiKeys: [KEY], rateLimitMax: 12, vendorTimeoutMs: 200 }, { metrics })
  const url = await startMetricsServer(t, metrics.registry)

  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/orders/54?machine=16327129', headers: AUTH })).statusCode, 200)
  for (const code of [80002, 80002, 30002, 77777]) {
    mode = code
    await app.inject({ url: '/orders/54?machine=16327129', headers: AUTH })
  }
  for (const m of ['reset', 'slow']) {
    mode = m
    await app.inject({ url: '/orders/54?machine=16327129', headers: AUTH })
  }
  mode = 0
  await app.inject({ url: '/orders/007?machine=1', headers: AUTH })
  await app.inject({ url: '/orders/54?machine=16327129' })
  for (const path of ['/nope', '/orders/54/secret-path', '/wp-admin.php?x=1']) await app.inject({ url: path })
  for (let i = 0; i < 4; i++) await app.inject({ url: '/orders/54?machine=16327129', headers: AUTH })
  await app.inject({ url: '/health/live' })

  const res = await fetch(url)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const text = await res.text()

  const http = (route: string, status: string, method = 'GET') => sample(text, 'http_request_duration_seconds_count', { route, method, status })
  t.equal(http('/orders/:id', '200'), 3 + 2, 'three answers, then two of the last four before the limit')
  t.equal(http('/orders/:id', '404'), 2, 'ORDER_NOT_FOUND')
  t.equal(http('/orders/:id', '503'), 1)
  t.equal(http('/orders/:id', '502'), 2, 'UPSTREAM_ERROR and UPSTREAM_UNREACHABLE')
  t.equal(http('/orders/:id', '504'), 1)
  t.equal(http('/orders/:id', '400'), 1)
  t.equal(http('/orders/:id', '401'), 1)
  t.equal(http('/orders/:id', '429'), 2)
  t.equal(http('unmatched', '404'), 3, 'unknown paths share one series')
  t.equal(http('/health/live', '200'), 1)
  t.notMatch(text, /secret-path|wp-admin|nope/, 'raw URLs never become labels')
  const httpSum = sample(text, 'http_request_duration_seconds_sum', { route: '/orders/:id', status: '504' })!
  t.ok(httpSum >= 0.2 && httpSum < 5, `the timed-out request took about the vendor deadline (${httpSum} s)`)
  t.equal(sample(text, 'http_request_duration_seconds_bucket', { route: '/orders/:id', status: '200', le: '+Inf' }), 5)

  const vendor = (outcome: string) => sample(text, 'vendor_call_duration_seconds_count', { outcome })
  t.equal(vendor('ok'), 5)
  t.equal(vendor('ORDER_NOT_FOUND'), 2)
  t.equal(vendor('MACHINE_OFFLINE'), 1)
  t.equal(vendor('UPSTREAM_ERROR'), 1)
  t.equal(vendor('UPSTREAM_UNREACHABLE'), 1)
  t.equal(vendor('UPSTREAM_TIMEOUT'), 1)
  const slowest = sample(text, 'vendor_call_duration_seconds_sum', { outcome: 'UPSTREAM_TIMEOUT' })!
  t.ok(slowest >= 0.19 && slowest < 2, `the timeout took the 200 ms deadline (${slowest} s)`)
  t.equal(sample(text, 'vendor_call_duration_seconds_bucket', { outcome: 'UPSTREAM_TIMEOUT', le: '0.1' }), 0)
  t.equal(sample(text, 'vendor_call_duration_seconds_bucket', { outcome: 'UPSTREAM_TIMEOUT', le: '0.25' }), 1)

  t.equal(sample(text, 'vendor_codes_total', { code: '0' }), 5)
  t.equal(sample(text, 'vendor_codes_total', { code: '80002' }), 2)
  t.equal(sample(text, 'vendor_codes_total', { code: '30002' }), 1)
  t.equal(sample(text, 'vendor_codes_total', { code: '77777' }), 1)
  t.equal(sample(text, 'vendor_calls_in_flight'), 0, 'every call finished')

  // this app runs with the cache, retries and breaker neutral (test/helper.ts): see the next test for them
  t.equal(sample(text, 'vendor_retries_total'), 0)
  t.equal(sample(text, 'vendor_breaker_state'), 0, 'closed')
  t.equal(sample(text, 'order_cache_events_total', { result: 'bypass' }), 5, 'every order served went to the vendor')
  for (const result of ['hit', 'miss', 'stale', 'coalesced']) t.equal(sample(text, 'order_cache_events_total', { result }), 0, result)

  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_version_info']) {
    t.ok(sample(text, name) !== undefined, `default metric ${name}`)
  }
  t.ok(sample(text, 'process_resident_memory_bytes')! > 1024 * 1024)
})

t.test('retries, breaker state and cache results are counted', async (t) => {
  let mode = 'ok'
  let calls = 0
  const upstream = await startUpstream(t, (req, res) => {
    calls++
    if (mode === 'reset' || (mode === 'flaky' && calls % 2 === 1)) req.socket.destroy()
    else answerOrder(req, res, { status: 'NOTPAY' })
  })
  const metrics = createMetrics({ defaultMetrics: false })
  const app = await buildTestApp(t, upstream.url, {}, { metrics }, {
    CACHE_ENABLED: 'true', CACHE_FRESH_MS: '60000', VENDOR_MAX_RETRIES: '2', VENDOR_RETRY_BASE_MS: '1', BREAKER_MIN_CALLS: '3', BREAKER_COOLDOWN_MS: '60000'
  })
  const url = await startMetricsServer(t, metrics.registry)
  const get = (id: number) => app.inject({ url: `/orders/${id}?machine=16327129` })

  await Promise.all([get(1), get(1), get(1)])
  await get(1)
  mode = 'flaky'
  calls = 0
  t.equal((await get(2)).statusCode, 200, 'a reset, then a retry that worked')
  mode = 'reset'
  for (const id of [3, 4, 5]) await get(id)

  const text = await (await fetch(url)).text()
  t.equal(sample(text, 'order_cache_events_total', { result: 'miss' }), 2)
  t.equal(sample(text, 'order_cache_events_total', { result: 'coalesced' }), 2)
  t.equal(sample(text, 'order_cache_events_total', { result: 'hit' }), 1)
  t.ok(sample(text, 'vendor_retries_total')! >= 1, 'the retry was counted')
  t.equal(sample(text, 'vendor_breaker_state'), 2, 'open after the resets')
})

t.test('vendor calls the budget put off or refused are counted, by priority', async (t) => {
  const upstream = await startUpstream(t, (req, res) => { answerOrder(req, res, { status: 'NOTPAY' }) })
  const metrics = createMetrics({ defaultMetrics: false })
  // a clock that stands still: the one call a second is spent, and no second passes
  const clock = fakeClock()
  const app = await buildTestApp(t, upstream.url, {}, { metrics, clock }, { VENDOR_MAX_CALLS_PER_SECOND: '1' })
  const url = await startMetricsServer(t, metrics.registry)
  const before = await (await fetch(url)).text()
  for (const [name, priority] of [['deferred', 'background'], ['deferred', 'wake'], ['refused', 'request'], ['refused', 'background']]) {
    t.equal(sample(before, `vendor_calls_${name}_total`, { priority: priority! }), 0, `${name} ${priority} exposed from the start`)
  }
  // a budget of 1 a second holds two calls at once (budgetLimits: two at least)
  for (const id of [1, 2]) t.equal((await app.inject({ url: `/orders/${id}?machine=16327129` })).statusCode, 200)
  const refused = await app.inject({ url: '/orders/3?machine=16327129' })
  assertProblem(t, refused, 503, 'UPSTREAM_BUDGET_SPENT')
  t.equal(refused.headers['retry-after'], '1')
  const unwatch = app.watchers.watch(4, '16327129', () => {})
  t.teardown(unwatch)
  // its first poll is due at once on that clock
  await clock.advance(0)
  await until(async () => sample(await (await fetch(url)).text(), 'vendor_calls_deferred_total', { priority: 'background' }) === 1, { what: 'the poll put off' })
  const text = await (await fetch(url)).text()
  t.equal(sample(text, 'vendor_calls_refused_total', { priority: 'request' }), 1)
  t.equal(upstream.requests.length, 2, 'two vendor calls: the bucket\'s two')
})

t.test('in-flight vendor calls are counted while they wait', async (t) => {
  let release = (): void => {}
  const upstream = await startUpstream(t, (_req, res) => { release = () => json(res, 200, { code: 0, data: { order_id: 54 } }) })
  const metrics = createMetrics({ defaultMetrics: false })
  const app = await buildTestApp(t, upstream.url, {}, { metrics })
  const url = await startMetricsServer(t, metrics.registry)
  const pending = app.inject({ url: '/orders/54?machine=16327129' })
  await until(() => upstream.requests.length === 1, { what: 'the call at the vendor' })
  t.equal(sample(await (await fetch(url)).text(), 'vendor_calls_in_flight'), 1)
  release()
  t.equal((await pending).statusCode, 200)
  t.equal(sample(await (await fetch(url)).text(), 'vendor_calls_in_flight'), 0)
})

t.test('the API port does not serve /metrics, and the metrics port serves nothing else', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false })
  const app = await buildTestApp(t, 'http://127.0.0.1:9', {}, { metrics })
  assertProblem(t, await app.inject({ url: '/metrics' }), 404, 'NOT_FOUND')
  const url = await startMetricsServer(t, metrics.registry)
  t.equal((await fetch(url.replace('/metrics', '/docs/json'))).status, 404)
  t.equal((await fetch(url.replace('/metrics', '/orders/54?machine=16327129'))).status, 404)
})

t.test('vendor codes: a vendor sending ever new codes cannot create unbounded series', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false })
  const hooks = vendorCallHooks(metrics)
  for (let code = 1; code <= 200; code++) {
    hooks.onStart!()
    hooks.onCall!({ outcome: 'UPSTREAM_ERROR', vendorCode: code, durationMs: 1 })
  }
  const text = await metrics.registry.metrics()
  const series = text.split('\n').filter((line) => line.startsWith('vendor_codes_total{'))
  t.equal(series.length, 51, '50 codes by value, then `other`')
  t.equal(sample(text, 'vendor_codes_total', { code: 'other' }), 150)
  t.equal(sample(text, 'vendor_calls_in_flight'), 0)
})

t.test('every app has its own registry', async (t) => {
  const first = createMetrics()
  const second = createMetrics()
  first.vendorRetries.inc()
  t.equal(sample(await second.registry.metrics(), 'vendor_retries_total'), 0)
  t.equal(sample(await first.registry.metrics(), 'vendor_retries_total'), 1)
})

t.test('docs/operations.md\'s metrics table lists every series this service registers, and none it does not', async (t) => {
  const text = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8')
  const documented = [...text.matchAll(/^\| `([a-z_]+)` \| (?:counter|gauge|histogram) \|/gm)].map((match) => match[1]!)
  const metrics = createMetrics({ defaultMetrics: false })
  // the redis_* series join the registry only with Redis configured
  registerRedisMetrics(metrics)
  const registered = metrics.registry.getMetricsAsArray().map((metric) => metric.name)
  t.ok(registered.length > 10, 'the registry was read')
  t.same([...documented].sort(), [...registered].sort())
})
