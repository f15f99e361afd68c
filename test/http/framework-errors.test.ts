import { once } from 'node:events'
import { connect, type AddressInfo } from 'node:net'
import t from 'tap'
import { answerClientErrors, parserRefusalStatus } from '../../src/http/framework-errors.js'
import { createMetrics } from '../../src/observability/metrics.js'
import { assertProblem, buildTestApp, captureLogs, json, startUpstream } from '../helper.js'

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

/** Sends raw bytes to the listening app and reads until the server closes the connection. */
async function rawExchange (port: number, bytes: string): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  // the server answers and closes; a reset after the answer (it stops reading a huge header) is fine
  socket.on('error', () => {})
  socket.write(bytes)
  await once(socket, 'close')
  return Buffer.concat(chunks).toString('latin1')
}

function parseAnswer (raw: string) {
  const [head = '', body = ''] = raw.split('\r\n\r\n')
  const [statusLine = '', ...headerLines] = head.split('\r\n')
  const headers = Object.fromEntries(headerLines.map((line) => {
    const colon = line.indexOf(':')
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
  }))
  return { statusLine, headers, body }
}

const SMUGGLING_CL_TE = 'POST /orders/54?machine=16327129 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
const DUPLICATE_CL = 'GET /orders/54?machine=16327129 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n'
const BAD_HEADER_BYTE = 'GET /orders/54?machine=16327129 HTTP/1.1\r\nHost: x\r\nX-Note: a\x01b\r\n\r\n'
const HUGE_HEADER = `GET /orders/54?machine=16327129 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`

t.test('requests Node\'s HTTP parser refuses are problem+json with a request id, and counted', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, {}))
  const { logger, lines } = captureLogs()
  const metrics = createMetrics({ defaultMetrics: false })
  const app = await buildTestApp(t, upstream.url, {}, { logger, metrics })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo

  const cases: Array<[string, string, number]> = [
    ['Content-Length with Transfer-Encoding', SMUGGLING_CL_TE, 400],
    ['two Content-Lengths', DUPLICATE_CL, 400],
    ['a control byte in a header value', BAD_HEADER_BYTE, 400],
    ['a 20 KB header', HUGE_HEADER, 431]
  ]
  for (const [name, bytes, status] of cases) {
    const answer = parseAnswer(await rawExchange(port, bytes))
    t.match(answer.statusLine, new RegExp(`^HTTP/1\\.1 ${status} `), name)
    t.equal(answer.headers['content-type'], 'application/problem+json', name)
    t.equal(answer.headers.connection, 'close', name)
    t.equal(Number(answer.headers['content-length']), Buffer.byteLength(answer.body), name)
    const requestId = answer.headers['x-request-id']
    t.match(requestId, /^[0-9a-f-]{36}$/, name)
    t.match(JSON.parse(answer.body), { type: 'urn:vending-orders:problem:invalid-request', status, code: 'INVALID_REQUEST', title: String, detail: String, requestId }, name)
    t.match(lines(), `"requestId":"${requestId}"`, `${name}: logged under its request id`)
  }
  t.notMatch(lines(), 'aaaaaaaaaa', 'the refused bytes are not logged')
  const text = await metrics.registry.metrics()
  t.match(text, /http_parser_refusals_total\{status="400"\} 3/)
  t.match(text, /http_parser_refusals_total\{status="431"\} 1/)
  t.equal(upstream.requests.length, 0)
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'the server still answers')
})

t.test('an HTTP/1.1 request without Host is a problem+json 400 with a request id; HTTP/1.0 needs none', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, {}))
  const app = await buildTestApp(t, upstream.url)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const noHost = parseAnswer(await rawExchange(port, 'GET /orders/54?machine=16327129 HTTP/1.1\r\nConnection: close\r\n\r\n'))
  t.match(noHost.statusLine, /^HTTP\/1\.1 400 /)
  t.match(noHost.headers['content-type'], /^application\/problem\+json/)
  t.match(JSON.parse(noHost.body), { status: 400, code: 'INVALID_REQUEST', detail: /Host/, requestId: noHost.headers['x-request-id'] })
  t.equal(upstream.requests.length, 0, 'refused before the vendor is asked')
  const old = parseAnswer(await rawExchange(port, 'GET /health/live HTTP/1.0\r\n\r\n'))
  t.match(old.statusLine, /^HTTP\/1\.1 200 /)
})

t.test('URLs Fastify cannot route are timed in http_request_duration_seconds like any answer', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, {}))
  const metrics = createMetrics({ defaultMetrics: false })
  const app = await buildTestApp(t, upstream.url, {}, { metrics })
  await app.inject({ url: '/orders/%zz?machine=16327129' })
  await app.inject({ method: 'DELETE', url: '/%' })
  await app.inject({ url: `/orders/${'1'.repeat(101)}?machine=16327129` })
  const text = await metrics.registry.metrics()
  t.match(text, /http_request_duration_seconds_count\{route="unmatched",method="GET",status="400"\} 1/)
  t.match(text, /http_request_duration_seconds_count\{route="unmatched",method="DELETE",status="400"\} 1/)
  t.match(text, /http_request_duration_seconds_count\{route="unmatched",method="GET",status="414"\} 1/)
})

t.test('a parser refusal never writes into an answer already under way, and a reset gets no answer', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false })
  const handler = answerClientErrors(metrics)
  const log = { info: () => {} }
  const fakeSocket = (started: boolean) => {
    const socket = { destroyed: false, writable: true, _httpMessage: { headersSent: started }, written: [] as string[], write (data: string) { this.written.push(data) }, destroy () { this.destroyed = true } }
    return socket
  }
  const timeout = Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT', bytesParsed: 0, rawPacket: { type: 'Buffer', data: [] } })

  const idle = fakeSocket(false)
  handler.call({ log } as never, timeout, idle as never)
  t.match(idle.written[0], /^HTTP\/1\.1 408 Request Timeout\r\n/)
  t.ok(idle.destroyed)

  const busy = fakeSocket(true)
  handler.call({ log } as never, timeout, busy as never)
  t.same(busy.written, [], 'an answer to an earlier request had started: nothing written')
  t.ok(busy.destroyed, 'the connection is closed all the same')

  const reset = fakeSocket(false)
  handler.call({ log } as never, Object.assign(timeout, { code: 'ECONNRESET' }), reset as never)
  t.same(reset.written, [])
  t.equal(parserRefusalStatus({ ...timeout, code: 'HPE_CHUNK_EXTENSIONS_OVERFLOW' }), 413)
  t.match(await metrics.registry.metrics(), /http_parser_refusals_total\{status="408"\} 2/)
})
