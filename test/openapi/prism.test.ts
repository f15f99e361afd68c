import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { freePort, killedWithParent } from '../../scripts/processes.js'
import { buildSimulator } from '../../src/simulator/app.js'
import { DEMO_CREDENTIALS } from '../../src/simulator/credentials.js'
import { MACHINE, ORDER } from '../../src/simulator/scenarios.js'
import { buildTestApp } from '../helper.js'

// A real validator in front of a real service: Prism's validating proxy (`prism proxy <document>
// <service> --errors`) checks every answer against the document the service serves, and turns
// any mismatch into a 500 with an `sl-violations` header. Each answer below must pass unchanged.

const PRISM = fileURLToPath(new URL('../../node_modules/@stoplight/prism-cli/dist/index.js', import.meta.url))

t.setTimeout(120_000)

const simulator = buildSimulator()
t.teardown(() => simulator.close())
const vendorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 })
// as deployed without API_KEYS: the served document then asks for no key
const app = await buildTestApp(t, vendorUrl, { vendor: { baseUrl: vendorUrl, ...DEMO_CREDENTIALS } })
const service = await app.listen({ host: '127.0.0.1', port: 0 })

const port = await freePort()
const prism = spawn(process.execPath, [PRISM, 'proxy', `${service}/docs/json`, service, '--errors', '--host', '127.0.0.1', '--port', String(port)], {
  env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', SCARF_ANALYTICS: 'false', NO_COLOR: '1' },
  stdio: ['ignore', 'pipe', 'pipe']
})
killedWithParent(prism)
t.teardown(async () => {
  if (prism.exitCode !== null || prism.signalCode !== null) return
  prism.kill('SIGTERM')
  await once(prism, 'exit')
})
let output = ''
prism.stdout.setEncoding('utf8').on('data', (text: string) => { output += text })
prism.stderr.setEncoding('utf8').on('data', (text: string) => { output += text })
const listening = new Promise<void>((resolve, reject) => {
  prism.stdout.on('data', () => { if (output.includes('Prism is listening')) resolve() })
  prism.once('exit', (code) => { reject(new Error(`prism exited (${code}) before listening:\n${output}`)) })
})
await listening
const proxy = `http://127.0.0.1:${port}`

/** Through the proxy; its verdict is the sl-violations header, which only a mismatch sets. */
async function ask (path: string, headers: Record<string, string> = {}) {
  const res = await fetch(proxy + path, { headers })
  return { status: res.status, type: res.headers.get('content-type'), violations: res.headers.get('sl-violations'), etag: res.headers.get('etag'), body: await res.text() }
}

t.test('an order, a cache revalidation and the problems pass the validator', async (t) => {
  const order = await ask(`/orders/${ORDER.documented}?machine=${MACHINE.documented}`)
  t.match(order, { status: 200, violations: null })
  t.equal(JSON.parse(order.body).id, ORDER.documented)
  t.match(await ask(`/orders/${ORDER.documented}?machine=${MACHINE.documented}`, { 'if-none-match': order.etag! }), { status: 304, violations: null })
  t.match(await ask(`/orders/${ORDER.unknown}?machine=${MACHINE.documented}`), { status: 404, violations: null, type: /problem\+json/ })
  t.match(await ask(`/orders/${ORDER.expired}?machine=${MACHINE.documented}`), { status: 410, violations: null })
  t.match(await ask(`/orders/${ORDER.documented}?machine=${MACHINE.offline}`), { status: 503, violations: null })
})

t.test('an event stream passes the validator: the stream is one text body, its events named in the description', async (t) => {
  const stream = await ask(`/orders/1001/events?machine=${MACHINE.documented}`)
  t.match(stream, { status: 200, violations: null, type: /^text\/event-stream/ })
  const [event] = stream.body.split('\n\n').filter((block) => block.includes('event: order'))
  t.ok(event, 'it carries the order event')
  const order = JSON.parse(/^data: (.*)$/m.exec(event!)![1]!)
  t.match(order, { id: 1001, terminal: true })

  const etag = /^id: (.*)$/m.exec(event!)![1]!
  t.match(await ask(`/orders/1001/events?machine=${MACHINE.documented}`, { 'last-event-id': etag }), { status: 204, violations: null }, 'and the 204 that ends the reconnects')
  t.match(await ask(`/orders/${ORDER.unknown}/events?machine=${MACHINE.documented}`), { status: 404, violations: null })
})

t.test('the proxy did check: a request outside the document is refused by it, not forwarded', async (t) => {
  const before = output.length
  const refused = await ask('/orders/54')
  t.equal(refused.status, 422, 'Prism\'s own refusal: the document requires machine')
  t.match(JSON.parse(refused.body), { validation: [{ location: ['query'], message: /machine/ }] })
  t.notMatch(output.slice(before), /Forwarding/, 'never forwarded')
})
