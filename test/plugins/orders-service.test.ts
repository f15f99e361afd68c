import t from 'tap'
import { answerOrder, buildTestApp, startUpstream } from '../helper.js'

// A delivery callback's wake (on the bus, from any replica) makes the next request for that order ask the vendor.
t.test('a wake on the bus: a kept order is asked for again at the next request, on every machine of it', async (t) => {
  let status = 'NOTPAY'
  const upstream = await startUpstream(t, (req, res) => { answerOrder(req, res, { status }) })
  const app = await buildTestApp(t, upstream.url, {}, {}, { CACHE_ENABLED: 'true', CACHE_FRESH_MS: '600000' })
  const get = async (machine: string) => (await app.inject({ url: `/orders/7?machine=${machine}` })).json().status
  t.equal(await get('16327129'), 'NOTPAY')
  t.equal(await get('16327130'), 'NOTPAY')
  status = 'SUCCESS'
  t.equal(await get('16327129'), 'NOTPAY', 'fresh for ten minutes')
  t.equal(upstream.requests.length, 2)
  app.sharedState.watchBus.publishWake(7)
  t.equal(await get('16327129'), 'SUCCESS', 'the vendor asked again')
  t.equal(await get('16327130'), 'SUCCESS', 'for the other machine too: the callback names no machine')
  t.equal(await get('16327129'), 'SUCCESS')
  t.equal(upstream.requests.length, 4, 'once per machine, then fresh again')
  app.sharedState.watchBus.publishWake(8)
  t.equal(await get('16327129'), 'SUCCESS')
  t.equal(upstream.requests.length, 4, 'another order\'s wake changes nothing here')
})
