import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { buildTestApp, json, startUpstream } from '../helper.js'

const BREAKER_ON = { BREAKER_MIN_CALLS: '4', BREAKER_THRESHOLD_PERCENT: '50', BREAKER_COOLDOWN_MS: '300', BREAKER_WINDOW_MS: '10000' }

t.test('opens after the threshold, fails fast without the vendor, then one probe closes it', async (t) => {
  let healthy = false
  const upstream = await startUpstream(t, (req, res) => {
    if (healthy) json(res, 200, { code: 0, data: { order_id: 54 } })
    else req.socket.destroy()
  })
  const app = await buildTestApp(t, upstream.url, {}, {}, BREAKER_ON)
  const get = () => app.inject({ url: '/orders/54?machine=16327129' })

  for (let i = 0; i < 4; i++) t.equal((await get()).statusCode, 502, `failure ${i + 1} reaches the vendor`)
  t.equal(upstream.requests.length, 4)

  const started = performance.now()
  const open = await get()
  t.equal(open.statusCode, 503)
  t.match(open.json(), { code: 'UNAVAILABLE', status: 503 })
  t.ok(Number(open.headers['retry-after']) >= 1, 'Retry-After says when to come back')
  t.ok(performance.now() - started < 50, 'answered at once')
  t.equal(upstream.requests.length, 4, 'the vendor was not touched')

  healthy = true
  await sleep(350)
  const probe = await get()
  t.equal(probe.statusCode, 200, 'after the cool-down a probe goes through and succeeds')
  t.equal((await get()).statusCode, 200, 'closed again')
  t.equal(upstream.requests.length, 6)
})

t.test('a failed probe opens it again; business codes never open it', async (t) => {
  const upstream = await startUpstream(t, (req) => { req.socket.destroy() })
  const app = await buildTestApp(t, upstream.url, {}, {}, BREAKER_ON)
  const get = () => app.inject({ url: '/orders/54?machine=16327129' })
  for (let i = 0; i < 4; i++) await get()
  t.equal((await get()).statusCode, 503)
  await sleep(350)
  t.equal((await get()).statusCode, 502, 'the probe reached the vendor and failed')
  t.equal((await get()).statusCode, 503, 'so it is open again')

  const business = await startUpstream(t, (_req, res) => json(res, 200, { code: 80002, message: 'no record' }))
  const app2 = await buildTestApp(t, business.url, {}, {}, BREAKER_ON)
  for (let i = 0; i < 10; i++) t.equal((await app2.inject({ url: '/orders/54?machine=16327129' })).statusCode, 404)
  t.equal(business.requests.length, 10, 'vendor answers are not failures')
})
