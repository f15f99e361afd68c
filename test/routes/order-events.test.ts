import { connect } from 'node:net'
import type { ServerResponse } from 'node:http'
import { EventSource, request } from 'undici'
import fastify, { type FastifyInstance } from 'fastify'
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import t, { type Test } from 'tap'
import type { AppConfig } from '../../src/bootstrap/app.js'
import { serializerCompiler } from '../../src/http/serializer.js'
import { createWatchers } from '../../src/orders/live/watchers.js'
import type { Served } from '../../src/orders/outcome.js'
import { HEARTBEAT_MS, orderEventsRoute } from '../../src/routes/order-events.js'
import { createMemoryClientSlots } from '../../src/shared-state/memory/client-slots.js'
import { createMemoryWatchBus } from '../../src/shared-state/memory/watch-bus.js'
import { createStreamSlots } from '../../src/routes/stream-slots.js'
import { createMetrics, type Metrics } from '../../src/observability/metrics.js'
import { representationOf } from '../../src/orders/representation.js'
import type { Order } from '../../src/orders/schema.js'
import { SLOW_READER_MS } from '../../src/routes/event-writer.js'
import { buildSimulator } from '../../src/simulator/app.js'
import { DEMO_CREDENTIALS } from '../../src/simulator/credentials.js'
import { DISPENSING_AFTER_MS, FINISHED_AFTER_MS, MACHINE, ORDER, PAID_AFTER_MS } from '../../src/simulator/scenarios.js'
import { answerOrder, buildTestApp, json, openEventStream, startUpstream, until, type SseFrame } from '../helper.js'
import { fakeClock, type FakeClock } from '../fixtures/clock.js'
import { order } from '../orders/fixtures/read-through.js'

const KEY_A = 'a'.repeat(32)
const KEY_B = 'b'.repeat(32)
const KEY_C = 'c'.repeat(32)

/** A stub vendor whose answer for every order the test sets: an order in `status` (terminal when told), or a vendor error code. */
async function stubVendor (t: Test) {
  let answer: { status: string, lines?: string, code?: number } = { status: 'NOTPAY' }
  const upstream = await startUpstream(t, (req, res) => {
    if (answer.code !== undefined) return json(res, 200, { code: answer.code, message: 'vendor says no', data: {} })
    answerOrder(req, res, { status: answer.status, records: answer.lines === undefined ? [] : [{ id: 1, product_id: 121, quantity: 1, price: '1.00', status: answer.lines }] })
  })
  return { upstream, set: (next: typeof answer) => { answer = next } }
}

async function listen (t: Test, baseUrl: string, overrides: Partial<AppConfig> = {}, env: Record<string, string> = {}, deps = {}) {
  const app = await buildTestApp(t, baseUrl, overrides, deps, env)
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, url }
}

const orderOf = (frame: SseFrame | undefined) => JSON.parse(frame?.data ?? 'null')

t.test('watchers of a clock order get each state in order, then the stream ends', async (t) => {
  let now = 1_000_000
  const simulator = buildSimulator({ now: () => now })
  t.teardown(() => simulator.close())
  const simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 })
  const { url } = await listen(t, simulatorUrl, { vendor: { baseUrl: simulatorUrl, ...DEMO_CREDENTIALS } })
  const streams = await Promise.all([1, 2, 3].map(() => openEventStream(t, `${url}/orders/${ORDER.progressingSuccess}/events?machine=${MACHINE.documented}`)))
  for (const stream of streams) {
    t.equal(stream.status, 200)
    t.match(stream.headers['content-type'], /^text\/event-stream/)
  }
  const seen: unknown[][] = streams.map(() => [])
  for (const at of [0, PAID_AFTER_MS, DISPENSING_AFTER_MS, FINISHED_AFTER_MS]) {
    now = 1_000_000 + at
    for (const [i, stream] of streams.entries()) {
      const frame = await stream.next()
      t.equal(frame?.event, 'order')
      const order = orderOf(frame)
      seen[i]!.push([order.status, order.items[0].status, order.terminal])
    }
  }
  const story = [['NOTPAY', null, false], ['SUCCESS', 'WAITING_PICKED_UP', false], ['SUCCESS', 'IS_DELIVERING', false], ['SUCCESS', 'IS_SUCCESS', true]]
  for (const stories of seen) t.same(stories, story)
  for (const stream of streams) t.equal(await stream.next(), undefined, 'the stream ends after the terminal order')
  t.match(streams[0]!.frames[0], { retry: '2000' }, 'a retry hint comes first')
})

t.test('200 watchers of one order: one poller, at most one vendor call per interval', async (t) => {
  const vendor = await stubVendor(t)
  const freshMs = 300
  const { app, url } = await listen(t, vendor.upstream.url, { events: { maxStreams: 500, maxPerClient: 500, maxDurationMs: 600_000 } },
    { CACHE_ENABLED: 'true', CACHE_FRESH_MS: String(freshMs) })
  const started = Date.now()
  const streams = await Promise.all(Array.from({ length: 200 }, () => openEventStream(t, `${url}/orders/7/events?machine=16327129`)))
  for (const stream of streams) t.equal(orderOf(await stream.next()).status, 'NOTPAY')
  t.equal(app.watchers.size, 1, 'one poller for the one order')
  vendor.set({ status: 'SUCCESS', lines: 'IS_DELIVERING' })
  for (const stream of streams) t.equal(orderOf(await stream.next()).status, 'SUCCESS')
  const intervals = Math.ceil((Date.now() - started) / freshMs)
  const calls = vendor.upstream.requests.length
  t.ok(calls <= intervals + 1, `${calls} vendor calls in ${intervals} intervals`)
})

t.test('a delivery callback makes the change visible long before the next poll', async (t) => {
  const vendor = await stubVendor(t)
  const token = 'callback-token-0123456789-abcdefghij'
  const { url } = await listen(t, vendor.upstream.url, { callbackToken: token }, { CACHE_ENABLED: 'true', CACHE_FRESH_MS: '60000' })
  const stream = await openEventStream(t, `${url}/orders/7/events?machine=16327129`)
  t.equal(orderOf(await stream.next()).status, 'NOTPAY')
  vendor.set({ status: 'SUCCESS', lines: 'IS_SUCCESS' })
  const callback = await fetch(`${url}/callbacks/delivery/${token}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'method=device.delivery.response&order_id=7&record_id=1&deliver_status=1&floor_status=1&error_msg='
  })
  t.equal(callback.status, 204)
  const changed = await stream.next()
  t.match(orderOf(changed), { status: 'SUCCESS', items: [{ status: 'IS_SUCCESS' }] }, 'the vendor\'s answer, asked again at once')
  t.equal(vendor.upstream.requests.length, 2, 'one vendor call to open, one for the callback')
})

t.test('Last-Event-ID equal to the current ETag skips the first event', async (t) => {
  const vendor = await stubVendor(t)
  const { url } = await listen(t, vendor.upstream.url)
  const first = await openEventStream(t, `${url}/orders/7/events?machine=16327129`)
  const { id } = (await first.next())!
  t.match(id, /^"[\w-]+"$/, 'the event id is the ETag')
  const plain = await fetch(`${url}/orders/7?machine=16327129`)
  t.equal(plain.headers.get('etag'), id, 'the same ETag as GET /orders/:id')
  const again = await openEventStream(t, `${url}/orders/7/events?machine=16327129`, { 'last-event-id': id! })
  vendor.set({ status: 'SUCCESS', lines: 'IS_DELIVERING' })
  const next = await again.next()
  t.equal(orderOf(next).status, 'SUCCESS', 'the reconnected stream starts with the change, not the order it had')
  t.not(next?.id, id)
})

t.test('errors: before the stream opens as HTTP problems; a final one later as a problem event that ends it', async (t) => {
  const vendor = await stubVendor(t)
  const { url } = await listen(t, vendor.upstream.url)
  vendor.set({ status: '', code: 30002 })
  const offline = await openEventStream(t, `${url}/orders/7/events?machine=16327129`)
  t.equal(offline.status, 503)
  t.equal(offline.headers['retry-after'], '30')
  t.match(JSON.parse(await offline.text()), { code: 'MACHINE_OFFLINE' })
  vendor.set({ status: '', code: 80002 })
  const missing = await openEventStream(t, `${url}/orders/7/events?machine=16327129`)
  t.equal(missing.status, 404)
  t.match(missing.headers['content-type'], /^application\/problem\+json/)
  await missing.text()
  const invalid = await openEventStream(t, `${url}/orders/007/events?machine=16327129`)
  t.equal(invalid.status, 400)
  t.match(JSON.parse(await invalid.text()), { code: 'INVALID_REQUEST', errors: [{ field: 'id' }] })

  vendor.set({ status: 'NOTPAY' })
  const stream = await openEventStream(t, `${url}/orders/7/events?machine=16327129`)
  t.equal(orderOf(await stream.next()).status, 'NOTPAY')
  vendor.set({ status: '', code: 30002 })
  vendor.set({ status: '', code: 80002 })
  const problem = await stream.next()
  t.equal(problem?.event, 'problem')
  t.match(JSON.parse(problem!.data!), { code: 'ORDER_NOT_FOUND', status: 404, type: 'urn:vending-orders:problem:order-not-found' })
  t.equal(await stream.next(), undefined, 'the stream ends after the problem')
})

t.test('bounds: streams per client (429), streams in all (503 with Retry-After), duration', async (t) => {
  const vendor = await stubVendor(t)
  const { url } = await listen(t, vendor.upstream.url, { events: { maxStreams: 2, maxPerClient: 1, maxDurationMs: 600_000 } }, { API_KEYS: [KEY_A, KEY_B, KEY_C].join(',') })
  const open = (key?: string) => openEventStream(t, `${url}/orders/7/events?machine=16327129`, key === undefined ? {} : { authorization: `Bearer ${key}` })
  const unauthenticated = await open()
  t.equal(unauthenticated.status, 401, 'the API keys apply')
  await unauthenticated.text()
  const a = await open(KEY_A)
  t.equal(a.status, 200)
  await a.next()
  const a2 = await open(KEY_A)
  t.equal(a2.status, 429)
  t.match(JSON.parse(await a2.text()), { code: 'RATE_LIMITED' })
  const b = await open(KEY_B)
  t.equal(b.status, 200)
  await b.next()
  const c = await open(KEY_C)
  t.equal(c.status, 503)
  t.ok(Number(c.headers['retry-after']) > 0, 'Retry-After')
  t.match(JSON.parse(await c.text()), { code: 'UNAVAILABLE' })
  a.close()
  let again = await open(KEY_C)
  // the server learns of the closed stream when its socket closes
  while (again.status === 503) { await again.text(); again = await open(KEY_C) }
  t.equal(again.status, 200, 'a closed stream gives its slot back')
})

interface OnClockOptions {
  /** the order each read answers (default: order 7 unpaid, always the same) */
  next?: () => Order
  intervalMs?: number
  metrics?: Metrics
}

/** The events route alone, on an orders service that answers `next()`, its stream duration, slow-reader watch and pollers on a hand-driven clock; `responses` are the server's side of each request. */
async function routeOnClock (t: Test, events: AppConfig['events'], { next = () => order(7), intervalMs = 60_000, metrics }: OnClockOptions = {}) {
  const clock = fakeClock()
  const getOrder = async (): Promise<Served> => ({ outcome: { kind: 'order', order: next(), storedAt: 0, freshMs: 1000 }, result: 'hit', tier: 'memory' })
  const app = fastify().withTypeProvider<ZodTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  const responses: ServerResponse[] = []
  app.addHook('onRequest', async (_request, reply) => { responses.push(reply.raw) })
  app.decorate('orders', { getOrder } as unknown as FastifyInstance['orders'])
  app.decorate('watchers', createWatchers({ getOrder, log: app.log, intervalMs, bus: createMemoryWatchBus(), clock }))
  const slots = createStreamSlots({ ...events, clientSlots: createMemoryClientSlots(events.maxPerClient) })
  await app.register(orderEventsRoute, { events, slots, clock, metrics })
  t.teardown(async () => { app.watchers.close(); await app.close() })
  return { clock, responses, url: await app.listen({ host: '127.0.0.1', port: 0 }) }
}

t.test('a stream is closed after EVENTS_MAX_DURATION_MS', async (t) => {
  const maxDurationMs = 600_000
  const { clock, url } = await routeOnClock(t, { maxStreams: 10, maxPerClient: 10, maxDurationMs })
  const stream = await openEventStream(t, `${url}/orders/7/events?machine=16327129`)
  t.equal(orderOf(await stream.next()).status, 'NOTPAY')
  let ended = false
  const last = stream.next().then((frame) => { ended = true; return frame })
  await clock.advance(maxDurationMs - 1)
  // a round trip to the server: had the stream ended, its end would be here first
  await fetch(`${url}/nowhere`).then((res) => res.text())
  t.notOk(ended, 'open until the duration is over')
  await clock.advance(1)
  t.equal(await last, undefined, 'ended without a terminal order')
})

t.test('shutdown ends every stream', async (t) => {
  const vendor = await stubVendor(t)
  const { app, url } = await listen(t, vendor.upstream.url)
  const streams = await Promise.all([1, 2].map((i) => openEventStream(t, `${url}/orders/${i}/events?machine=16327129`)))
  for (const stream of streams) await stream.next()
  await app.close()
  for (const stream of streams) t.equal(await stream.next(), undefined)
})

t.test('streams are connections: MAX_CONNECTIONS counts them', async (t) => {
  const vendor = await stubVendor(t)
  const { url } = await listen(t, vendor.upstream.url, {}, { MAX_CONNECTIONS: '1' })
  const stream = await openEventStream(t, `${url}/orders/7/events?machine=16327129`)
  await stream.next()
  const refused = await fetch(`${url}/orders/7?machine=16327129`)
  t.equal(refused.status, 503)
})

t.test('metrics: open streams, watched orders, events sent', async (t) => {
  const vendor = await stubVendor(t)
  const metrics = createMetrics({ defaultMetrics: false })
  const { url } = await listen(t, vendor.upstream.url, {}, {}, { metrics })
  const stream = await openEventStream(t, `${url}/orders/7/events?machine=16327129`)
  await stream.next()
  const text = await metrics.registry.metrics()
  t.match(text, /^event_streams_open 1$/m)
  t.match(text, /^watched_orders 1$/m)
  t.match(text, /^events_sent_total\{event="order"\} 1$/m)
  stream.close()
  await until(async () => (await metrics.eventStreams.get()).values[0]?.value === 0)
  await until(async () => (await metrics.watchedOrders.get()).values[0]?.value === 0)
})

t.test('HEAD does not open a stream', async (t) => {
  const vendor = await stubVendor(t)
  const { url } = await listen(t, vendor.upstream.url)
  const res = await fetch(`${url}/orders/7/events?machine=16327129`, { method: 'HEAD' })
  t.equal(res.status, 405)
  t.equal(res.headers.get('allow'), 'GET')
  t.equal(vendor.upstream.requests.length, 0)
})

t.test('a reconnect after the terminal order is answered 204, and an EventSource stops there', async (t) => {
  const vendor = await stubVendor(t)
  const { url } = await listen(t, vendor.upstream.url)
  const path = `${url}/orders/7/events?machine=16327129`
  vendor.set({ status: 'SUCCESS', lines: 'IS_SUCCESS' })
  const first = await openEventStream(t, path)
  const terminal = await first.next()
  t.equal(orderOf(terminal).terminal, true)
  t.equal(await first.next(), undefined, 'the stream ends after the terminal order')
  const again = await openEventStream(t, path, { 'last-event-id': terminal!.id! })
  t.equal(again.status, 204, 'Last-Event-ID is the terminal ETag: nothing can follow it')
  t.equal(await again.text(), '')
  const stale = await openEventStream(t, path, { 'last-event-id': '"an-older-etag"' })
  t.equal(stale.status, 200, 'an older ETag still gets the terminal order')
  t.equal((await stale.next())?.id, terminal!.id)

  // a browser's EventSource: the order, one reconnect (after the 2 s retry hint) that is answered 204, then closed for good
  const source = new EventSource(path)
  t.teardown(() => { source.close() })
  const ids: string[] = []
  let errors = 0
  source.addEventListener('order', (event) => { ids.push((event as MessageEvent).lastEventId) })
  source.onerror = () => { errors += 1 }
  await until(() => source.readyState === EventSource.CLOSED, { what: 'the EventSource closed' })
  t.same(ids, [terminal!.id], 'one order event, none after the reconnect')
  t.ok(errors >= 1, 'the 204 is reported as an error, as the HTML standard says')
  const streams = vendor.upstream.requests.length
  t.equal(source.readyState, EventSource.CLOSED)
  t.equal(vendor.upstream.requests.length, streams, 'no further reconnects')
})

t.test('a problem event has the id problem:CODE; a reconnect with it is answered 204', async (t) => {
  const vendor = await stubVendor(t)
  const { url } = await listen(t, vendor.upstream.url)
  const path = `${url}/orders/7/events?machine=16327129`
  const stream = await openEventStream(t, path)
  await stream.next()
  vendor.set({ status: '', code: 80002 })
  const problem = await stream.next()
  t.match(problem, { event: 'problem', id: 'problem:ORDER_NOT_FOUND' })
  t.equal(await stream.next(), undefined)
  const again = await openEventStream(t, path, { 'last-event-id': problem!.id! })
  t.equal(again.status, 204)
  t.equal(await again.text(), '')
  const fresh = await openEventStream(t, path)
  t.equal(fresh.status, 404, 'without it, the problem answer as before')
  await fresh.text()
  const other = await openEventStream(t, path, { 'last-event-id': 'problem:ORDER_EXPIRED' })
  t.equal(other.status, 404, 'a different final problem is no match')
  await other.text()
})

t.test('every stream gets the same bytes per change, in @fastify/sse\'s format', async (t) => {
  const vendor = await stubVendor(t)
  const { url } = await listen(t, vendor.upstream.url, {}, { CACHE_ENABLED: 'true', CACHE_FRESH_MS: '250' })
  const path = `${url}/orders/7/events?machine=16327129`
  const bodies = await Promise.all(Array.from({ length: 5 }, async () => {
    const res = await request(path, { headers: { accept: 'text/event-stream' } })
    return res.body
  }))
  const texts = bodies.map((body) => body.text())
  const plain = await fetch(`${url}/orders/7?machine=16327129`)
  const unpaid = { etag: plain.headers.get('etag'), body: await plain.text() }
  vendor.set({ status: 'SUCCESS', lines: 'IS_SUCCESS' })
  const all = await Promise.all(texts)
  const done = await fetch(`${url}/orders/7?machine=16327129`)
  const terminal = { etag: done.headers.get('etag'), body: await done.text() }
  const frame = ({ etag, body }: { etag: string | null, body: string }) => `id: ${etag}\nevent: order\ndata: ${body}\n\n`
  for (const text of all) t.equal(text, `retry: 2000\n\n${frame(unpaid)}${frame(terminal)}`)
})

/** A few turns of the event loop, so the socket's writes complete and a drain, if any, is emitted. */
async function ioTurns (turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise(setImmediate)
}

/** One change per interval until the response stays undrained (the kernel's buffers are full too); returns how many it took. */
async function fillSocket (clock: FakeClock, response: ServerResponse, intervalMs: number): Promise<number> {
  for (let changes = 1; changes <= 5000; changes++) {
    await clock.advance(intervalMs)
    await ioTurns()
    if (response.writableNeedDrain) return changes
  }
  throw new Error('the socket never filled')
}

/** A client that sends the stream request and never reads a byte of the answer. */
function nonReadingClient (t: Test, url: string) {
  const { port } = new URL(url)
  const socket = connect(Number(port), '127.0.0.1')
  socket.pause()
  t.teardown(() => { socket.destroy() })
  socket.write('GET /orders/7/events?machine=16327129 HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n')
  return socket
}

t.test('a client that stops reading holds one pending event at most, and its stream is closed and counted', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false })
  let version = 0
  let latest = order(7)
  // a ~20 KB order that changes at every poll
  const next = () => { latest = { ...order(7, false, 200), notifySendCount: ++version }; return latest }
  const intervalMs = 1000
  const { clock, responses, url } = await routeOnClock(t, { maxStreams: 10, maxPerClient: 10, maxDurationMs: 1e9 }, { next, intervalMs, metrics })
  nonReadingClient(t, url)
  await until(() => responses[0]?.headersSent === true, { what: 'the stream opened' })
  const response = responses[0]!
  const frameBytes = Buffer.byteLength(`id: ${representationOf(latest).etag}\nevent: order\ndata: ${representationOf(latest).body}\n\n`)
  t.ok(frameBytes > 19_000, `a ${frameBytes} B frame`)
  // changes until the socket's buffers (the kernel's first) are full
  const changes = await fillSocket(clock, response, intervalMs)
  const bound = response.writableHighWaterMark + frameBytes + 1024
  const atStall = response.writableLength
  t.ok(atStall <= bound, `${atStall} B buffered in the response when the socket stopped draining after ${changes} changes (bound ${bound})`)
  const sentBefore = (await metrics.eventsSent.get()).values.find((v) => v.labels.event === 'order')!.value
  const stalledChanges = Math.floor(SLOW_READER_MS / intervalMs) - 2
  for (let i = 0; i < stalledChanges; i++) { await clock.advance(intervalMs); await ioTurns() }
  const sent = (await metrics.eventsSent.get()).values.find((v) => v.labels.event === 'order')!.value
  t.equal(sent - sentBefore, 0, `none of ${stalledChanges} more changes reached the socket, and events_sent_total does not count them`)
  t.equal(response.writableLength, atStall, 'none of them was queued on the socket: the newest waits as the one pending event')
  t.equal((await metrics.slowReadersClosed.get()).values[0]?.value ?? 0, 0, 'not closed yet')
  t.equal(response.destroyed, false)
  await clock.advance(SLOW_READER_MS)
  await until(() => response.destroyed, { what: 'the slow stream was closed' })
  t.equal((await metrics.slowReadersClosed.get()).values[0]?.value, 1, 'counted in events_slow_readers_closed_total')
  await until(async () => (await metrics.eventStreams.get()).values[0]?.value === 0, { what: 'the stream gave its slot back' })
})

t.test('a reader that catches up gets the newest order, not the ones it missed', async (t) => {
  let version = 0
  let latest = order(7)
  const next = () => { latest = { ...order(7, false, 200), notifySendCount: ++version }; return latest }
  const intervalMs = 1000
  const { clock, responses, url } = await routeOnClock(t, { maxStreams: 10, maxPerClient: 10, maxDurationMs: 1e9 }, { next, intervalMs })
  const socket = nonReadingClient(t, url)
  await until(() => responses[0]?.headersSent === true, { what: 'the stream opened' })
  const response = responses[0]!
  const changes = await fillSocket(clock, response, intervalMs)
  const missed = 10
  for (let i = 0; i < missed; i++) { await clock.advance(intervalMs); await ioTurns() }
  const newest = representationOf(latest).etag
  let text = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { text += chunk })
  socket.resume()
  await until(() => text.includes(`id: ${newest}\n`), { what: 'the newest order arrived' })
  const received = text.split('\nevent: order\n').length - 1
  t.ok(received < changes + missed + 1, `${received} order events received of ${changes + missed + 1} changes: the missed ones were replaced`)
  t.equal(response.destroyed, false, 'a reader that drains is not closed')
})

t.test('heartbeats: a comment to every open stream each HEARTBEAT_MS, from one timer', async (t) => {
  const { clock, url } = await routeOnClock(t, { maxStreams: 10, maxPerClient: 10, maxDurationMs: 1e9 })
  const bodies = ['', '']
  const responses = await Promise.all(bodies.map(async (_, i) => {
    const { body } = await request(`${url}/orders/7/events?machine=16327129`)
    body.setEncoding('utf8').on('data', (chunk: string) => { bodies[i] += chunk })
    return body
  }))
  t.teardown(() => { for (const body of responses) body.destroy() })
  await until(() => bodies.every((text) => text.includes('event: order')), { what: 'the first order on both streams' })
  t.ok(bodies.every((text) => !text.includes(': heartbeat')), 'none yet')
  await clock.advance(HEARTBEAT_MS)
  await until(() => bodies.every((text) => text.includes(': heartbeat\n\n')), { what: 'a heartbeat on both streams' })
  await clock.advance(HEARTBEAT_MS)
  await until(() => bodies.every((text) => text.split(': heartbeat\n\n').length === 3), { what: 'a second heartbeat on both streams' })
})

t.test('the terminal order is the body\'s last frame, and the response ends with it', async (t) => {
  let status: Order['status'] = 'NOTPAY'
  const intervalMs = 1000
  const { clock, url } = await routeOnClock(t, { maxStreams: 10, maxPerClient: 10, maxDurationMs: 1e9 }, { next: () => ({ ...order(7), status, terminal: status === 'SUCCESS' }), intervalMs })
  const { body } = await request(`${url}/orders/7/events?machine=16327129`)
  let text = ''
  let ended = false
  body.setEncoding('utf8').on('data', (chunk: string) => { text += chunk }).on('end', () => { ended = true })
  await until(() => text.includes('event: order'), { what: 'the first order' })
  status = 'SUCCESS'
  await clock.advance(intervalMs)
  await until(() => ended, { what: 'the end of the stream' })
  const frames = text.split('\n\n').filter((frame) => frame.includes('data: '))
  t.equal(frames.length, 2)
  t.match(frames[1], /"status":"SUCCESS"/)
  t.ok(text.endsWith('\n\n'), 'nothing after the terminal frame')
})
