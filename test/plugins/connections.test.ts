import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { answerOrder, assertProblem, buildTestApp, captureLogs, startUpstream, until } from '../helper.js'

interface Client {
  socket: Socket
  /** everything the server sent */
  received: () => string
  closed: Promise<void>
}

async function openClient (t: Test, port: number, send = ''): Promise<Client> {
  const socket = connect(port, '127.0.0.1')
  let received = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { received += chunk })
  socket.on('error', () => {})
  const closed = once(socket, 'close').then(() => {})
  t.teardown(() => { socket.destroy() })
  await once(socket, 'connect')
  if (send !== '') socket.write(send)
  return { socket, received: () => received, closed }
}

/** `promise`'s value, or a failure naming `what` after `ms`: a guard against hanging, not a measurement. */
async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms) })
  try {
    return await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}

async function listening (app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as { port: number }).port
}

const GET_LIVE = 'GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n'

t.test('over MAX_CONNECTIONS a client gets a 503 problem and a closed connection; room frees as connections close', async (t) => {
  const upstream = await startUpstream(t, (req, res) => answerOrder(req, res))
  const { logger, lines } = captureLogs()
  const app = await buildTestApp(t, upstream.url, {}, { logger }, { MAX_CONNECTIONS: '2' })
  const port = await listening(app)
  const first = await openClient(t, port)
  await openClient(t, port)
  await until(() => app.connections.open === 2)

  const res = await fetch(`http://127.0.0.1:${port}/orders/54?machine=16327129`)
  const body = await res.json()
  assertProblem(t, { statusCode: res.status, headers: Object.fromEntries(res.headers), json: () => body }, 503, 'UNAVAILABLE')
  t.equal(res.headers.get('retry-after'), '5')
  t.equal(res.headers.get('connection'), 'close')
  t.equal(upstream.requests.length, 0, 'the refused request went nowhere')

  const third = await openClient(t, port, GET_LIVE)
  await within(third.closed, 10_000, 'the refused connection is closed')
  t.match(third.received(), /^HTTP\/1\.1 503 Service Unavailable\r\n/)
  t.match(lines(), /MAX_CONNECTIONS reached/)

  first.socket.destroy()
  await until(() => app.connections.open === 1)
  t.equal((await fetch(`http://127.0.0.1:${port}/health/live`)).status, 200, 'a freed place is taken again')
})

// REQUEST_TIMEOUT_MS=1000 makes both deadlines 1 s; Node's unchanged default would only look every 30 s
t.test('a connection that sends nothing is closed with 408 at the headers deadline', async (t) => {
  const app = await buildTestApp(t, 'http://127.0.0.1:9', {}, {}, { REQUEST_TIMEOUT_MS: '1000' })
  const silent = await openClient(t, await listening(app))
  await within(silent.closed, 15_000, 'the silent connection is closed')
  t.match(silent.received(), /^HTTP\/1\.1 408 Request Timeout\r\n/)
})

t.test('a client sending its body a byte at a time is cut off at the request deadline', async (t) => {
  const app = await buildTestApp(t, 'http://127.0.0.1:9', {}, {}, { REQUEST_TIMEOUT_MS: '1000' })
  const slow = await openClient(t, await listening(app), 'GET /health/live HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\n\r\n')
  const drip = setInterval(() => { if (!slow.socket.destroyed) slow.socket.write('a') }, 100)
  t.teardown(() => clearInterval(drip))
  await within(slow.closed, 15_000, 'the slow sender is cut off')
  t.match(slow.received(), /408 Request Timeout/)
})

t.test('at shutdown closeIdle closes idle, silent and half-sent connections at once; a busy one gets its answer, then closes', async (t) => {
  // the vendor holds its answer until the test releases it: the busy request is surely in flight at closeIdle
  let release = (): void => {}
  const upstream = await startUpstream(t, (req, res) => { release = () => { answerOrder(req, res) } })
  const app = await buildTestApp(t, upstream.url, {}, {}, { VENDOR_TIMEOUT_MS: '60000' })
  const port = await listening(app)
  const keptAlive = await openClient(t, port, GET_LIVE)
  await until(() => keptAlive.received().includes('"status":"ok"'))
  const silent = await openClient(t, port)
  const halfSent = await openClient(t, port, 'GET /health/live HTTP/1.1\r\nHo')
  const busy = await openClient(t, port, 'GET /orders/54?machine=16327129 HTTP/1.1\r\nHost: test\r\n\r\n')
  await until(() => upstream.requests.length === 1)

  app.connections.closeIdle()
  await within(Promise.all([keptAlive.closed, silent.closed, halfSent.closed]), 5000, 'the idle connections are closed')
  t.equal(busy.socket.destroyed, false, 'the busy connection is still open')
  release()
  await within(busy.closed, 10_000, 'the busy connection closes once answered')
  t.match(busy.received(), /^HTTP\/1\.1 200 OK\r\n/, 'and got its answer first')

  const late = await openClient(t, port, GET_LIVE)
  await within(late.closed, 5000, 'a new connection is refused')
  t.match(late.received(), /^HTTP\/1\.1 503 Service Unavailable\r\n[^]*shutting down/)
})

t.test('a failed accept() (EMFILE) is a logged warning, not the end of the process', async (t) => {
  const { logger, lines } = captureLogs()
  const app = await buildTestApp(t, 'http://127.0.0.1:9', {}, { logger })
  const port = await listening(app)
  const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' })
  t.doesNotThrow(() => app.server.emit('error', emfile))
  t.match(lines(), /could not accept a connection; still serving/)
  t.equal((await fetch(`http://127.0.0.1:${port}/health/live`)).status, 200)
})
