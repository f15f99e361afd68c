import { once } from 'node:events'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import { createTransport, type PostOptions, type TransportOptions } from '../../src/upstream/transport.js'
import { json, startUpstream } from '../helper.js'

/** A transport to `origin`, and one POST through it. */
function transport (t: Test, origin: string, overrides: Partial<TransportOptions> = {}) {
  const pool = createTransport({ origin, timeoutMs: 500, maxBodyBytes: 4096, ...overrides })
  t.teardown(() => pool.close())
  return { post: (options: PostOptions = {}) => pool.post('/api/openapi/v1/orders/1', { 'content-type': 'application/json' }, '{}', options) }
}

async function failure (promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof AppError) return error
    throw error
  }
  throw new Error('expected the call to fail')
}

t.test('an answer is read in full, whatever its status, with its content-type, as sent', async (t) => {
  let withMark = false
  const upstream = await startUpstream(t, (_req, res) => {
    if (withMark) res.end('\uFEFF{"code":0}')
    else json(res, 401, { code: 10014 })
    withMark = true
  })
  const vendor = transport(t, upstream.url)
  t.same(await vendor.post(), { status: 401, contentType: 'application/json', text: '{"code":10014}' })
  t.equal((await vendor.post()).text, '\uFEFF{"code":0}', 'a byte-order mark is kept: the protocol refuses it as not JSON')
})

t.test('a body over the cap is refused, declared or streamed', async (t) => {
  const big = JSON.stringify({ code: 0, data: { trade_id: 'x'.repeat(10_000) } })
  let chunked = false
  const upstream = await startUpstream(t, (_req, res) => {
    if (chunked) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write(big.slice(0, 3000))
      setTimeout(() => res.end(big.slice(3000)), 20)
    } else {
      json(res, 200, JSON.parse(big))
    }
    chunked = true
  })
  const vendor = transport(t, upstream.url)
  const declared = await failure(vendor.post())
  t.equal(declared.code, 'UPSTREAM_BAD_RESPONSE')
  t.match(declared.detail, /larger than 4096 bytes/)
  const streamed = await failure(vendor.post())
  t.equal(streamed.code, 'UPSTREAM_BAD_RESPONSE')
  t.match(streamed.detail, /larger than 4096 bytes/)
  t.equal(streamed.upstreamStatus, 200)
})

t.test('a declared Content-Length over the cap is refused before any of the body is read', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '10000000' })
    // a first bite, then nothing: waiting for the rest would end in UPSTREAM_TIMEOUT instead
    res.write('{"code":0,')
  })
  const error = await failure(transport(t, upstream.url, { timeoutMs: 5000 }).post())
  t.equal(error.code, 'UPSTREAM_BAD_RESPONSE')
  t.match(error.detail, /larger than 4096 bytes/)
})

t.test('a vendor slower than the deadline is UPSTREAM_TIMEOUT, on time', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => { setTimeout(() => json(res, 200, { code: 0, data: {} }), 1500) })
  const started = Date.now()
  const error = await failure(transport(t, upstream.url, { timeoutMs: 200 }).post())
  t.equal(error.code, 'UPSTREAM_TIMEOUT')
  t.equal(error.status, 504)
  t.ok(Date.now() - started < 1000, 'gave up at the deadline, not when the vendor answered')
})

t.test('a call\'s own deadline, when shorter, is the one kept', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => { setTimeout(() => json(res, 200, { code: 0, data: {} }), 1500) })
  const error = await failure(transport(t, upstream.url, { timeoutMs: 5000 }).post({ timeoutMs: 100 }))
  t.equal(error.code, 'UPSTREAM_TIMEOUT')
  t.match(error.detail, 'within 100 ms')
})

t.test('a body that stalls past the deadline is UPSTREAM_TIMEOUT too', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
    res.write('{"code":0,')
  })
  const error = await failure(transport(t, upstream.url, { timeoutMs: 200 }).post())
  t.equal(error.code, 'UPSTREAM_TIMEOUT')
})

t.test('a refused connection is UPSTREAM_UNREACHABLE', async (t) => {
  // take a free port, then close it so nothing listens there
  const probe = createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as AddressInfo).port
  probe.close()
  await once(probe, 'close')
  const error = await failure(transport(t, `http://127.0.0.1:${port}`).post())
  t.equal(error.code, 'UPSTREAM_UNREACHABLE')
  t.equal(error.status, 502)
})

t.test('a reset before the answer and a reset mid-body are UPSTREAM_UNREACHABLE', async (t) => {
  let midBody = false
  const upstream = await startUpstream(t, (req, res) => {
    if (midBody) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '200' })
      res.write('{"code":0,"data":{"order_')
      setTimeout(() => req.socket.destroy(), 10)
    } else {
      req.socket.destroy()
    }
    midBody = true
  })
  const vendor = transport(t, upstream.url)
  t.equal((await failure(vendor.post())).code, 'UPSTREAM_UNREACHABLE')
  t.equal((await failure(vendor.post())).code, 'UPSTREAM_UNREACHABLE')
})
