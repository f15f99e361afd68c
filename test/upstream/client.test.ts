import t, { type Test } from 'tap'
import { createVendorClient, type VendorClientOptions } from '../../src/upstream/client.js'
import type { VendorEndpoint } from '../../src/upstream/endpoint.js'
import { orderQuery } from '../../src/upstream/endpoints/order-query.js'
import { signParams } from '../../src/upstream/signing.js'
import { json, startUpstream, TEST_CREDENTIALS } from '../helper.js'

function client (t: Test, baseUrl: string, overrides: Partial<VendorClientOptions> = {}) {
  const vendor = createVendorClient({ baseUrl, ...TEST_CREDENTIALS, timeoutMs: 500, maxBodyBytes: 4096, ...overrides })
  t.teardown(() => vendor.close())
  return vendor
}

t.test('sends a signed POST with the credentials as headers', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, message: 'ok', data: { order_id: 54, status: 'SUCCESS' } }))
  const fixedNow = 1_714_115_742_123
  const order = await client(t, upstream.url + '/prefix/', { now: () => fixedNow }).call(orderQuery, { orderId: 54, machineNo: '16327129' })
  t.same(order, { order_id: 54, status: 'SUCCESS' })

  const [request] = upstream.requests
  t.equal(request?.method, 'POST')
  t.equal(request?.url, '/prefix/api/openapi/v1/orders/54', 'a base URL path prefix is kept')
  t.equal(request?.headers.appid, TEST_CREDENTIALS.appId)
  t.equal(request?.headers.appsecret, TEST_CREDENTIALS.appSecret)
  t.match(request?.headers['content-type'], /application\/json/)
  const payload = JSON.parse(Buffer.from(JSON.parse(request?.body ?? '{}').payload, 'base64').toString('utf8'))
  t.same(payload, {
    machine_no: '16327129',
    timestamp: '1714115742',
    sign: signParams({ machine_no: '16327129', timestamp: '1714115742' }, TEST_CREDENTIALS.signKey)
  })
})

t.test('every call carries a fresh timestamp and its own valid sign', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: { order_id: 1 } }))
  let now = 1_700_000_000_000
  const vendor = client(t, upstream.url, { now: () => now })
  await vendor.call(orderQuery, { orderId: 1, machineNo: '12345678' })
  now += 5000
  await vendor.call(orderQuery, { orderId: 1, machineNo: '12345678' })
  const payloads = upstream.requests.map((r) => JSON.parse(Buffer.from(JSON.parse(r.body).payload, 'base64').toString()))
  t.same(payloads.map((p) => p.timestamp), ['1700000000', '1700000005'])
  for (const p of payloads) t.equal(p.sign, signParams({ machine_no: p.machine_no, timestamp: p.timestamp }, TEST_CREDENTIALS.signKey))
})

t.test('an answer goes through the protocol: the body code is trusted over the HTTP status', async (t) => {
  const answers = [
    [401, { code: 10014, message: 'Appid invalid', data: {} }, 'UPSTREAM_REJECTED', 10014],
    [200, { code: 80002, message: 'no record', data: null }, 'ORDER_NOT_FOUND', 80002],
    [500, { code: '40005', message: '订单已过期' }, 'ORDER_EXPIRED', 40005]
  ] as const
  let next = 0
  const upstream = await startUpstream(t, (_req, res) => { const [status, body] = answers[next++]!; json(res, status, body) })
  const vendor = client(t, upstream.url)
  for (const [, , code, vendorCode] of answers) await t.rejects(vendor.call(orderQuery, { orderId: 1, machineNo: '12345678' }), { code, vendorCode })
})

t.test('any endpoint takes the same path: its own path and parameters, signed and sent alike, its answer read by its own parser', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: { total: '2', items: ['a', 'b'] } }))
  const listing: VendorEndpoint<{ machineNo: string, page: number }, { total: unknown, status: number }> = {
    path: ({ machineNo }) => `/api/openapi/v1/machines/${machineNo}/orders`,
    payload: ({ machineNo, page }) => ({ machine_no: machineNo, page }),
    idempotent: true,
    parse: (data, _params, status) => ({ total: (data as { total: unknown }).total, status }),
    logFields: () => ({}),
    spanAttributes: () => ({})
  }
  const answered: number[] = []
  const result = await client(t, upstream.url + '/prefix', { now: () => 1_700_000_000_000 })
    .call(listing, { machineNo: '16327129', page: 3 }, { onAnswer: (status) => answered.push(status) })
  t.same(result, { total: '2', status: 200 })
  t.same(answered, [200], 'the answer\'s status is told, for the span')
  const [request] = upstream.requests
  t.equal(request?.url, '/prefix/api/openapi/v1/machines/16327129/orders')
  t.equal(request?.headers.appid, TEST_CREDENTIALS.appId)
  const payload = JSON.parse(Buffer.from(JSON.parse(request?.body ?? '{}').payload, 'base64').toString('utf8'))
  t.same(payload, {
    machine_no: '16327129',
    page: 3,
    timestamp: '1700000000',
    sign: signParams({ machine_no: '16327129', page: 3, timestamp: '1700000000' }, TEST_CREDENTIALS.signKey)
  }, 'the endpoint\'s parameters and the timestamp, signed')
})
