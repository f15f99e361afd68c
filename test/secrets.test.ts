import t from 'tap'
import { buildTestApp, captureLogs, json, startUpstream, TEST_CREDENTIALS } from './helper.js'

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
