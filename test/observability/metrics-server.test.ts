import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { createMetrics } from '../../src/observability/metrics.js'
import { buildMetricsServer, METRICS_KEEP_ALIVE_TIMEOUT_MS, METRICS_MAX_CONNECTIONS, METRICS_REQUEST_TIMEOUT_MS } from '../../src/observability/metrics-server.js'
import { until } from '../helper.js'

// The metrics server's own bounds, over real sockets: a few connections, and close() cuts them all.

async function listening (t: Test, log?: { warn: (...args: unknown[]) => void }) {
  const server = buildMetricsServer(createMetrics({ defaultMetrics: false }).registry, { log })
  const url = await server.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => server.close())
  const { port } = new URL(url)
  const open = async (): Promise<Socket> => {
    const socket = connect(Number(port), '127.0.0.1')
    socket.on('error', () => {})
    t.teardown(() => { socket.destroy() })
    await once(socket, 'connect')
    return socket
  }
  const connections = async () => await new Promise<number>((resolve, reject) => {
    server.server.getConnections((error, count) => { if (error === null) resolve(count); else reject(error) })
  })
  return { server, url, open, connections }
}

/** Resolves when `socket` is closed, however (events.once would reject on the reset's 'error'). */
const closed = async (socket: Socket): Promise<void> => { await new Promise((resolve) => socket.once('close', resolve)) }

/** The status line of the answer to a GET /metrics written on `socket`. */
async function scrape (socket: Socket): Promise<string> {
  let text = ''
  socket.setEncoding('utf8')
  const answered = new Promise<string>((resolve) => {
    socket.on('data', (chunk: string) => { text += chunk; if (text.includes('\r\n')) resolve(text.split('\r\n')[0]!) })
  })
  socket.write('GET /metrics HTTP/1.1\r\nHost: metrics\r\n\r\n')
  return await answered
}

t.test(`more than ${METRICS_MAX_CONNECTIONS} connections: the next is closed unanswered, while those within the cap are served`, async (t) => {
  const warnings: unknown[][] = []
  const { url, open, connections } = await listening(t, { warn: (...args) => { warnings.push(args) } })
  const held: Socket[] = []
  for (let i = 0; i < METRICS_MAX_CONNECTIONS; i++) held.push(await open())
  await until(async () => await connections() === METRICS_MAX_CONNECTIONS, { what: 'the server holding the cap' })

  const extra = await open()
  let received = ''
  extra.on('data', (chunk) => { received += String(chunk) })
  await closed(extra)
  t.equal(received, '', 'dropped without a byte')
  t.equal(await connections(), METRICS_MAX_CONNECTIONS, 'the cap held')
  t.match(warnings, [[{ maxConnections: METRICS_MAX_CONNECTIONS }, 'metrics port full: dropping new connections']], 'one warning for the episode')
  await closed(await open())
  t.equal(warnings.length, 1, 'not one per connection')

  t.equal(await scrape(held[0]!), 'HTTP/1.1 200 OK', 'a connection within the cap is served')

  held.pop()!.destroy()
  await until(async () => await connections() < METRICS_MAX_CONNECTIONS, { what: 'the server seeing the close' })
  const res = await fetch(url + '/metrics', { headers: { connection: 'close' } })
  t.equal(res.status, 200, 'with room again, a new connection is served')
  await res.text()
})

t.test('close() cuts a half-sent request and idle connections at once, rather than waiting on their deadlines', async (t) => {
  const { server, open, connections } = await listening(t)
  const halfSent = await open()
  halfSent.write('GET /metrics HTTP/1.1\r\nHost: metr')
  const idle = await open()
  t.equal(await scrape(idle), 'HTTP/1.1 200 OK')
  await until(async () => await connections() === 2, { what: 'both connections open' })
  const both = Promise.all([closed(halfSent), closed(idle)])
  await server.close()
  await both
  t.pass('close() resolved and both connections were closed by the server')
})

t.test('the deadlines Node enforces: the request within 10 s, keep-alive short, checked every second', async (t) => {
  const { server } = await listening(t)
  t.equal(server.server.headersTimeout, METRICS_REQUEST_TIMEOUT_MS)
  t.equal(server.server.requestTimeout, METRICS_REQUEST_TIMEOUT_MS)
  t.equal(server.server.keepAliveTimeout, METRICS_KEEP_ALIVE_TIMEOUT_MS)
  t.equal((server.server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval, 1000)
  t.equal(server.server.maxConnections, METRICS_MAX_CONNECTIONS)
})
