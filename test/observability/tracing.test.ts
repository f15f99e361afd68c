import { createContextKey, ROOT_CONTEXT } from '@opentelemetry/api'
import { AsyncLocalStorage } from 'node:async_hooks'
import { createRequire } from 'node:module'
import t, { type Test } from 'tap'
import { contextHolds, startTracing, tracingSettings } from '../../src/observability/tracing.js'
import { answerOrder, NEUTRAL_ENV, openEventStream, startService, startUpstream, TEST_CREDENTIALS } from '../helper.js'

const API_KEY = 'k'.repeat(20) + '-tracing-test-key'
const ORDER = '/orders/54?machine=16327129'

type Attributes = Record<string, string | number | boolean | undefined>

interface ExportedSpan {
  traceId: string
  spanId: string
  parentSpanId: string | undefined
  name: string
  kind: number
  status: { code?: number, message?: string }
  attributes: Attributes
  /** every text in the span: name, attribute values, status, events */
  texts: string[]
}

interface OtlpValue { stringValue?: string, intValue?: number | string, boolValue?: boolean, doubleValue?: number }
interface OtlpAttribute { key: string, value: OtlpValue }

const valueOf = (value: OtlpValue): string | number | boolean | undefined =>
  value.stringValue ?? (value.intValue === undefined ? undefined : Number(value.intValue)) ?? value.boolValue ?? value.doubleValue
const attributesOf = (list: OtlpAttribute[] = []): Attributes => Object.fromEntries(list.map(({ key, value }) => [key, valueOf(value)]))

/** A throwaway OTLP/HTTP receiver on port 0: the spans of every JSON POST to /v1/traces. */
async function startReceiver (t: Test): Promise<{ url: string, posts: () => number, spans: () => ExportedSpan[] }> {
  const receiver = await startUpstream(t, (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{}') })
  const bodies = (): any[] => receiver.requests.filter((req) => req.method === 'POST' && req.url === '/v1/traces').map((req) => JSON.parse(req.body))
  const spans = (): ExportedSpan[] => bodies().flatMap((body) => body.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((span: any): ExportedSpan => {
    const attributes = attributesOf(span.attributes)
    const events = (span.events ?? []).flatMap((event: any) => [event.name, ...Object.values(attributesOf(event.attributes)).map(String)])
    return {
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: span.parentSpanId === '' ? undefined : span.parentSpanId,
      name: span.name,
      kind: span.kind,
      status: span.status ?? {},
      attributes,
      texts: [span.name, ...Object.values(attributes).map(String), span.status?.message ?? '', ...events]
    }
  }))))
  return { url: receiver.url, posts: () => bodies().length, spans }
}

/** A vendor that answers the first call with a gateway's 503 page, then the order. */
async function flakyVendor (t: Test) {
  let calls = 0
  return await startUpstream(t, (req, res) => {
    calls += 1
    if (calls === 1) {
      res.writeHead(503, { 'content-type': 'text/html' }).end('<html>busy</html>')
      return
    }
    answerOrder(req, res)
  })
}

function serviceEnv (vendorUrl: string, extra: Record<string, string>): Record<string, string> {
  return {
    ...NEUTRAL_ENV,
    LOG_LEVEL: 'info',
    CACHE_ENABLED: 'true',
    VENDOR_MAX_RETRIES: '1',
    VENDOR_RETRY_BASE_MS: '1',
    SHUTDOWN_DELAY_MS: '0',
    API_KEYS: API_KEY,
    VENDOR_BASE_URL: vendorUrl,
    VENDOR_APP_ID: TEST_CREDENTIALS.appId,
    VENDOR_APP_SECRET: TEST_CREDENTIALS.appSecret,
    VENDOR_SIGN_KEY: TEST_CREDENTIALS.signKey,
    ...extra
  }
}

const CALLER_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const CALLER_SPAN_ID = '00f067aa0ba902b7'

// first: the check that the SDK was never loaded holds only before a traced service has started in this process
t.test('tracing off: no spans, nothing sent, no trace ids in the log, no SDK loaded', async (t) => {
  const receiver = await startReceiver(t)
  const vendor = await flakyVendor(t)
  // a receiver where the default endpoint would not find it anyway; nothing must even try
  const service = await startService(t, serviceEnv(vendor.url, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'x' }))
  t.equal(service.tracing, undefined)
  const res = await fetch(`${service.url}${ORDER}`, { headers: { authorization: `Bearer ${API_KEY}`, traceparent: `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01` } })
  t.equal(res.status, 200)
  await service.stop()
  t.equal(receiver.posts(), 0, 'nothing sent')
  const lines = service.lines.filter((line) => line.requestId === res.headers.get('x-request-id'))
  t.ok(lines.length >= 4, 'the request was logged')
  for (const line of lines) t.notOk('trace_id' in line || 'span_id' in line, `"${String(line.msg)}" has no trace fields`)
  t.notOk(service.lines.some((line) => line.msg === 'tracing on'))
  const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) => /@opentelemetry\/(sdk|exporter|resources|instrumentation|context-async-hooks)|@fastify\/otel/.test(path))
  t.same(loaded, [], 'no part of the SDK was loaded: only @opentelemetry/api')
})

t.test('a cache miss with one retry: the request span, the cache lookup, the slot waits and both vendor attempts, in one trace', async (t) => {
  const receiver = await startReceiver(t)
  const vendor = await flakyVendor(t)
  const service = await startService(t, serviceEnv(vendor.url, {
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json'
  }))
  t.ok(service.tracing, 'tracing is on')
  t.match(service.lines.find((line) => line.msg === 'tracing on'), { tracing: { exporters: ['otlp'], endpoint: `${receiver.url}/v1/traces`, protocol: 'http/json' } })

  // an unknown query parameter that could be a credential, and the caller's key
  const headers = { authorization: `Bearer ${API_KEY}` }
  const miss = await fetch(`${service.url}${ORDER}&access_token=do-not-trace-me`, { headers })
  t.equal(miss.status, 200)
  t.equal(vendor.requests.length, 2, 'the vendor answered 503, then the order')
  const hit = await fetch(`${service.url}${ORDER}`, { headers: { ...headers, traceparent: `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01` } })
  t.equal(hit.status, 200)
  t.match(hit.headers.get('cache-status'), /hit/)
  await service.stop()

  const spans = receiver.spans()
  const missRequest = spans.find((span) => span.name === 'GET /orders/:id' && span.traceId !== CALLER_TRACE_ID)
  if (missRequest === undefined) throw new Error(`no request span: ${JSON.stringify(spans.map((s) => s.name))}`)
  const trace = spans.filter((span) => span.traceId === missRequest.traceId)
  const childrenOf = (parent: ExportedSpan) => trace.filter((span) => span.parentSpanId === parent.spanId)

  t.equal(missRequest.parentSpanId, undefined, 'no caller trace: the request span is the root')
  t.equal(missRequest.kind, 2, 'SERVER')
  t.match(missRequest.attributes, { 'http.request.method': 'GET', 'http.route': '/orders/:id', 'url.path': '/orders/54', 'http.response.status_code': 200 })

  // no span per hook or for the handler: the handler runs in the request span's context
  const [lookup, ...others] = childrenOf(missRequest)
  t.equal(others.length, 0, 'one child of the request span: the cache lookup')
  t.match(lookup, { name: 'cache lookup', attributes: { 'vending.cache.result': 'miss', 'vending.order.id': 54 } })

  const steps = childrenOf(lookup!)
  t.same(steps.map((span) => span.name), ['vendor slot wait', 'POST', 'vendor slot wait', 'POST'], 'a wait for a slot before each attempt, in order')
  const attempts = steps.filter((span) => span.name === 'POST')
  t.match(attempts[0], {
    kind: 3, // CLIENT
    status: { code: 2 },
    attributes: { 'http.request.method': 'POST', 'http.request.resend_count': 0, 'http.response.status_code': 503, 'error.type': 'UPSTREAM_BAD_RESPONSE', 'server.address': '127.0.0.1', 'server.port': Number(new URL(vendor.url).port) }
  })
  t.equal(attempts[0]!.attributes['vending.vendor.code'], undefined, 'a gateway page has no vendor code')
  t.match(attempts[1], { kind: 3, attributes: { 'http.request.resend_count': 1, 'http.response.status_code': 200, 'vending.vendor.code': 0 } })
  t.not(attempts[1]!.status.code, 2, 'the second attempt succeeded')

  // the caller's trace context is honoured: its trace id, its span as the parent
  const hitRequest = spans.find((span) => span.name === 'GET /orders/:id' && span.traceId === CALLER_TRACE_ID)
  t.equal(hitRequest?.parentSpanId, CALLER_SPAN_ID, "the caller's span is the request span's parent")
  t.ok(spans.some((span) => span.traceId === CALLER_TRACE_ID && span.name === 'cache lookup' && span.attributes['vending.cache.result'] === 'hit'), 'the second request was a hit, in the caller\'s trace')

  // nothing that is a credential, a signature or a query in any span
  const secrets = [API_KEY, TEST_CREDENTIALS.appId, TEST_CREDENTIALS.appSecret, TEST_CREDENTIALS.signKey, 'do-not-trace-me', 'payload']
  const leaks = spans.flatMap((span) => span.texts
    .filter((text) => text.includes('?') || secrets.some((secret) => text.includes(secret)))
    .map((text) => `${span.name}: ${text}`))
  t.same(leaks, [], `no credential, signature or query in any of the ${spans.length} spans`)
  t.same(spans.filter((span) => ['url.full', 'url.query', 'http.target'].some((key) => key in span.attributes)).map((span) => span.name), [], 'no full URL or query attribute')

  // every log line of the request carries its trace id
  const requestId = miss.headers.get('x-request-id')
  const lines = service.lines.filter((line) => line.requestId === requestId)
  t.ok(lines.length >= 5, `incoming, two vendor calls, a retry, completed (${lines.length} lines)`)
  t.ok(lines.some((line) => line.msg === 'incoming request'), 'the incoming request line is there')
  t.ok(lines.some((line) => line.msg === 'request completed'), 'the completed line is there')
  for (const line of lines) t.equal(line.trace_id, missRequest.traceId, `"${String(line.msg)}" carries the trace id`)
  const hitLines = service.lines.filter((line) => line.requestId === hit.headers.get('x-request-id'))
  t.ok(hitLines.length >= 2 && hitLines.every((line) => line.trace_id === CALLER_TRACE_ID), 'the second request logs under the caller\'s trace id')
})

t.test('the OTEL_* variables that turn tracing on, and where traces go', async (t) => {
  const on = (env: Record<string, string>) => tracingSettings(env).settings
  t.equal(on({}), undefined, 'off by default')
  t.equal(on({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), undefined, 'other OTEL_* variables alone do not turn it on')
  t.same(on({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }), { exporters: ['otlp'], otlp: { url: 'http://collector:4318/v1/traces', protocol: 'http/protobuf' } }, 'the generic endpoint gets the signal path; protobuf by default')
  t.same(on({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:9999/custom' })?.otlp.url, 'http://b:9999/custom', "the signal's endpoint is used as it is")
  t.same(on({ OTEL_TRACES_EXPORTER: 'otlp' })?.otlp.url, 'http://localhost:4318/v1/traces', 'the exporter alone: the default endpoint')
  t.same(on({ OTEL_TRACES_EXPORTER: 'console' })?.exporters, ['console'])
  t.equal(on({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318' }), undefined, 'none wins over an endpoint')
  t.equal(on({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318' }), undefined, 'OTEL_SDK_DISABLED')
  t.same(on({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318' })?.otlp.protocol, 'http/protobuf', "the signal's protocol wins")

  const grpc = tracingSettings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4317' })
  t.equal(grpc.settings, undefined, 'grpc is not supported: off')
  t.match(grpc.warnings, [/grpc is not supported/])
  const zipkin = tracingSettings({ OTEL_TRACES_EXPORTER: 'zipkin,console' })
  t.same(zipkin.settings?.exporters, ['console'], 'the exporters it has are kept')
  t.match(zipkin.warnings, [/zipkin/])
  const bad = tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })
  t.equal(bad.settings, undefined)
  t.match(bad.warnings, [/OTEL_EXPORTER_OTLP_ENDPOINT is not an http\(s\) URL/])
})

t.test('with Redis, its commands are spans of the request too: command names only, never keys, values or the password', async (t) => {
  const { requireRedisServer, startRedisServer } = await import('../fixtures/redis-server.js')
  if (!requireRedisServer(t)) return
  const redis = await startRedisServer(t)
  const receiver = await startReceiver(t)
  const vendor = await startUpstream(t, (req, res) => { answerOrder(req, res) })
  const service = await startService(t, serviceEnv(vendor.url, {
    REDIS_URL: redis.url,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json'
  }))
  t.ok(service.app.sharedState.isShared(), 'the service reached Redis')
  const res = await fetch(`${service.url}${ORDER}`, { headers: { authorization: `Bearer ${API_KEY}` } })
  t.equal(res.status, 200)
  await service.stop()

  const spans = receiver.spans()
  const request = spans.find((span) => span.name === 'GET /orders/:id')
  const redisSpans = spans.filter((span) => span.attributes['db.system'] === 'redis' || span.attributes['db.system.name'] === 'redis')
  const parentName = (span: ExportedSpan): string | undefined => spans.find((other) => other.spanId === span.parentSpanId)?.name
  t.ok(redisSpans.some((span) => parentName(span) === 'GET /orders/:id'), 'the rate limit\'s count, in the hooks before the handler, is a child of the request span')
  t.ok(redisSpans.filter((span) => /^(get|set)$/i.test(span.name)).every((span) => parentName(span) === 'cache lookup'), 'the shared cache\'s reads and writes are children of the lookup')
  t.ok(redisSpans.length >= 2, `Redis commands traced: ${redisSpans.map((span) => span.name).join(', ')}`)
  t.ok(redisSpans.every((span) => span.traceId === request?.traceId), 'in the request\'s trace')
  t.ok(redisSpans.some((span) => /^(get|set)$/i.test(span.name)), 'the shared cache\'s reads and writes among them')
  const texts = redisSpans.flatMap((span) => span.texts)
  t.notOk(texts.some((text) => text.includes('54:16327129') || text.includes('"id":54')), 'no key or value in them')
})

t.test('shutdown is bounded: a collector that never answers costs the flush bound, and says the spans were dropped', async (t) => {
  const hanging = await startUpstream(t, () => { /* never answers */ })
  const settings = { exporters: ['otlp' as const], otlp: { url: `${hanging.url}/v1/traces`, protocol: 'http/json' as const } }
  const tracing = await startTracing(settings, { serviceVersion: 'test', flushTimeoutMs: 200 })
  tracing.tracer.startSpan('the last request').end()
  t.same(await tracing.shutdown(), { flushed: false }, 'resolved while the export still hangs')
  t.same(await tracing.shutdown(), { flushed: false }, 'once: a second call gets the same answer')

  const receiver = await startReceiver(t)
  const working = await startTracing({ ...settings, otlp: { ...settings.otlp, url: `${receiver.url}/v1/traces` } }, { serviceVersion: 'test', flushTimeoutMs: 60_000 })
  working.tracer.startSpan('the last request').end()
  t.same(await working.shutdown(), { flushed: true })
  t.same(receiver.spans().map((span) => span.name), ['the last request'], 'exported before shutdown resolved')
})

t.test('sampling is decided once per request: an unsampled request makes no span at all, a sampled caller is followed', async (t) => {
  const receiver = await startReceiver(t)
  const vendor = await startUpstream(t, (req, res) => { answerOrder(req, res) })
  // no new trace is ever sampled: only a caller's sampled trace is
  const service = await startService(t, serviceEnv(vendor.url, {
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0'
  }))
  t.match(service.lines.find((line) => line.msg === 'tracing on'), { tracing: { sampler: 'parentbased_traceidratio', ratio: 0 } })
  const headers = { authorization: `Bearer ${API_KEY}` }
  const unsampledCaller = '5bf92f3577b34da6a3ce929d0e0e4736'
  // a miss (the cache lookup, a slot wait and a vendor call happen), with no caller
  const root = await fetch(`${service.url}${ORDER}`, { headers })
  t.equal(root.status, 200)
  t.equal(vendor.requests.length, 1, 'the vendor was called')
  const notSampled = await fetch(`${service.url}${ORDER}`, { headers: { ...headers, traceparent: `00-${unsampledCaller}-${CALLER_SPAN_ID}-00` } })
  const sampled = await fetch(`${service.url}${ORDER}`, { headers: { ...headers, traceparent: `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01` } })
  const probe = await fetch(`${service.url}/health/ready`, { headers: { traceparent: `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01` } })
  t.equal(probe.status, 200)
  await service.stop()

  const spans = receiver.spans()
  t.same(new Set(spans.map((span) => span.traceId)), new Set([CALLER_TRACE_ID]), 'the sampled caller\'s trace only: no span of the others, no orphan root trace of their cache lookups or vendor calls')
  t.same(spans.map((span) => span.name).sort(), ['GET /orders/:id', 'cache lookup'], 'the sampled request, a hit; no span for the health probe')
  t.equal(spans.find((span) => span.name === 'GET /orders/:id')?.parentSpanId, CALLER_SPAN_ID)

  const linesOf = (res: Response) => service.lines.filter((line) => line.requestId === res.headers.get('x-request-id'))
  t.ok(linesOf(root).length >= 3 && linesOf(root).every((line) => !('trace_id' in line) && !('span_id' in line)), 'a request that is in no trace logs no trace id')
  t.ok(linesOf(notSampled).length >= 2 && linesOf(notSampled).every((line) => line.trace_id === unsampledCaller && !('span_id' in line)),
    "a caller's trace that is not sampled here: its trace id, no span id (there is no span of ours)")
  t.ok(linesOf(sampled).length >= 2 && linesOf(sampled).every((line) => line.trace_id === CALLER_TRACE_ID && typeof line.span_id === 'string'), 'a sampled one: trace and span ids')
})

t.test('the request span ends when the client leaves a stream, and a 5xx answer is an error with its exception', async (t) => {
  const receiver = await startReceiver(t)
  // an order that never ends, then a vendor that only fails
  let failing = false
  const vendor = await startUpstream(t, (req, res) => {
    if (failing) res.writeHead(503, { 'content-type': 'text/html' }).end('<html>busy</html>')
    else answerOrder(req, res)
  })
  const service = await startService(t, serviceEnv(vendor.url, {
    CACHE_ENABLED: 'false',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json'
  }))
  const headers = { authorization: `Bearer ${API_KEY}` }
  const stream = await openEventStream(t, `${service.url}/orders/54/events?machine=16327129`, headers)
  t.equal(stream.status, 200)
  t.ok(await stream.next(), 'the first event came')
  stream.close()
  failing = true
  const failed = await fetch(`${service.url}/orders/55?machine=16327129`, { headers })
  t.ok(failed.status >= 500, `the vendor failed: ${failed.status}`)
  await service.stop()

  const spans = receiver.spans()
  const streamSpan = spans.find((span) => span.name === 'GET /orders/:id/events')
  t.ok(streamSpan, 'the stream\'s request span was ended and exported')
  t.match(streamSpan?.attributes, { 'http.route': '/orders/:id/events', 'url.path': '/orders/54/events', 'http.response.status_code': 200 })
  const failedSpan = spans.find((span) => span.name === 'GET /orders/:id' && span.attributes['url.path'] === '/orders/55')
  t.match(failedSpan, { status: { code: 2 }, attributes: { 'http.response.status_code': failed.status } }, 'a 5xx: an error')
})

t.test('a run of the async context that nothing holds lets Node 20\'s promise hook go when its callback returns; a held one carries its context on', async (t) => {
  // loaded here, not at the top: the first test checks that tracing off loads none of the SDK
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks')
  const manager = new AsyncLocalStorageContextManager()
  const hold = contextHolds(manager)
  const key = createContextKey('which run')
  const hooksBased = typeof (new AsyncLocalStorage() as unknown as { kResourceStore?: unknown }).kResourceStore === 'symbol'
  // what a run's callback sees right after a nested run, and what its next turn sees (the batch processor's export, in short)
  const run = async (): Promise<{ after: unknown, later: unknown }> => await new Promise((resolve) => {
    manager.with(ROOT_CONTEXT.setValue(key, 'outer'), () => {
      manager.with(ROOT_CONTEXT.setValue(key, 'inner'), () => {})
      const after = manager.active().getValue(key)
      setImmediate(() => { resolve({ after, later: manager.active().getValue(key) }) })
    })
  })
  const letGo = hooksBased ? undefined : 'outer'
  t.same(await run(), { after: 'outer', later: letGo }, `nothing holds it: ${hooksBased ? 'let go once the outer run returned (not at the nested one\'s end)' : 'Node 24 keeps no hook to let go'}`)
  const release = hold()
  t.same(await run(), { after: 'outer', later: 'outer' }, 'held: the next turn is still in the run\'s context')
  release()
  release()
  t.same(await run(), { after: 'outer', later: letGo }, 'released (twice, counted once): let go again')
  const first = hold()
  const second = hold()
  first()
  t.same(await run(), { after: 'outer', later: 'outer' }, 'one hold of two released: still held')
  second()
})
