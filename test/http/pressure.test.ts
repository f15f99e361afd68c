import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { buildTestApp, json, startUpstream } from '../helper.js'

t.test('under memory pressure orders get a 503 problem with Retry-After; health still answers', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: {} }))
  // a 1-byte RSS limit: every sample is over it
  const app = await buildTestApp(t, upstream.url, {}, {}, { MAX_RSS_BYTES: '1' })
  await app.ready()
  await sleep(600) // one sample interval
  const res = await app.inject({ url: '/orders/54?machine=16327129' })
  t.equal(res.statusCode, 503)
  t.match(res.headers['content-type'], /problem\+json/)
  t.match(res.json(), { code: 'UNAVAILABLE', status: 503 })
  t.equal(res.headers['retry-after'], '5')
  t.equal(upstream.requests.length, 0, 'the vendor was spared')
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200)
})

t.test('without pressure requests pass', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: { order_id: 54 } }))
  const app = await buildTestApp(t, upstream.url)
  await app.ready()
  await sleep(600)
  t.equal((await app.inject({ url: '/orders/54?machine=16327129' })).statusCode, 200)
})
