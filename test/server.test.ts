import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { answering, freePort, SERVICE_NODE_FLAGS, spawnNode, type NodeProcess } from '../scripts/processes.js'
import { DEMO_CREDENTIALS } from '../src/simulator/credentials.js'
import { answerOrder, startUpstream, until } from './helper.js'

// src/server.ts itself: the tests here need a real process (signals, exit codes, the descriptor
// limit). What start() does in-process is test/bootstrap/start.test.ts's.

const SERVER = new URL('../src/server.ts', import.meta.url).pathname

// each test starts real processes that compile TypeScript on start: slow on a busy 2-core machine
t.setTimeout(600_000)
/** How long a process may take to get somewhere: generous, a guard against hanging, not a measurement. */
const PATIENCE = { timeoutMs: 60_000, everyMs: 50 }

interface Server extends NodeProcess {
  /** the API's URL once it answers; rejects if the process exits first */
  url: Promise<string>
}

/**
 * Runs src/server.ts as a real process (with the TypeScript loader tap gave us) on a free port,
 * reading its JSON log lines; `openFiles` sets its file-descriptor limit (ulimit -n).
 */
async function startServer (env: Record<string, string>, { openFiles }: { openFiles?: number } = {}): Promise<Server> {
  const port = String(await freePort())
  const server = spawnNode('server', SERVER, {
    // transpile only, as tap's own loader does: type-checking is tsc's job in CI, and slow here
    env: { TS_NODE_TRANSPILE_ONLY: '1', PORT: port, HOST: '127.0.0.1', METRICS_PORT: '0', METRICS_HOST: '127.0.0.1', ...env },
    nodeArgs: process.execArgv,
    openFiles
  })
  const base = `http://127.0.0.1:${env.PORT ?? port}`
  const url = answering(server, `${base}/health/live`, 120_000).then(() => base)
  // the tests of a refused start never ask for the URL
  url.catch(() => {})
  return { ...server, url }
}

t.test('NODE_ENV=production without vendor settings refuses to start, naming each one', async (t) => {
  const server = await startServer({ NODE_ENV: 'production', VENDOR_APP_SECRET: 'top-secret-value-123' })
  t.teardown(() => { server.child.kill('SIGKILL') })
  t.equal(await server.exit, 1)
  const output = JSON.stringify(server.lines)
  for (const name of ['VENDOR_BASE_URL', 'VENDOR_APP_ID', 'VENDOR_SIGN_KEY']) t.match(output, name)
  t.notMatch(output, 'top-secret-value-123')
})

t.test('SIGTERM under load: readiness fails first, in-flight requests complete, new connections are refused', async (t) => {
  // the vendor holds every answer until the test releases them: the requests are surely in flight throughout the shutdown
  const held: Array<() => void> = []
  const upstream = await startUpstream(t, (req, res) => { held.push(() => { answerOrder(req, res) }) })
  const server = await startServer({
    VENDOR_BASE_URL: upstream.url,
    VENDOR_APP_ID: DEMO_CREDENTIALS.appId,
    VENDOR_APP_SECRET: DEMO_CREDENTIALS.appSecret,
    VENDOR_SIGN_KEY: DEMO_CREDENTIALS.signKey,
    VENDOR_TIMEOUT_MS: '60000',
    // the window in which readiness is off and the listener still open: long enough for a busy machine to look
    SHUTDOWN_DELAY_MS: '1000',
    LOG_LEVEL: 'info'
  })
  t.teardown(() => { server.child.kill('SIGKILL') })
  const url = await server.url

  const inFlight = ['54', '1001', '1002', '1003', '1007'].map((id) => fetch(`${url}/orders/${id}?machine=16327129`).then((res) => res.status))
  await until(() => upstream.requests.length === 5, { ...PATIENCE, what: 'all five at the vendor' })
  t.equal(upstream.requests.length, 5, 'all five are at the vendor')
  server.child.kill('SIGTERM')
  await until(() => server.lines.some((line) => line.msg === 'shutting down: readiness off, draining'), { ...PATIENCE, what: 'the shutdown line' })

  const ready = await fetch(`${url}/health/ready`)
  t.equal(ready.status, 503, 'readiness fails while draining')
  // each look is a new connection: refused once the listener has closed, after the drain delay
  const refused = async (): Promise<boolean> => await fetch(`${url}/health/live`, { headers: { connection: 'close' } }).then(async (res) => { await res.arrayBuffer(); return false }, () => true)
  await until(refused, { ...PATIENCE, what: 'new connections refused' })
  t.pass('new connections are refused once the listener closed, the vendor still holding every call')

  for (const answer of held) answer()
  t.same(await Promise.all(inFlight), [200, 200, 200, 200, 200], 'no in-flight request was dropped')
  t.equal(await server.exit, 0)
})

/** GET the documented example order until it answers 200 (or the wait runs out); its last status. */
async function orderStatusOnceServing (url: string): Promise<number | string> {
  let status: number | string = 'no answer'
  const serving = async (): Promise<boolean> => {
    status = await fetch(`${url}/orders/54?machine=16327129`).then((res) => res.status, (error: Error) => error.message)
    return status === 200
  }
  // the caller asserts the status: a wait that runs out fails there, naming the last one
  await until(serving, { ...PATIENCE, everyMs: 250 }).catch(() => {})
  return status
}

interface AttackSocket {
  socket: Socket
  received: string
  closed: boolean
}

/** Issue 10's attack: each socket announces a 1 MB body for GET /orders/54, then sends one byte a second. */
function slowBodyAttack (t: Test, url: string, count: number): { sockets: AttackSocket[], stop: () => void } {
  const sockets = Array.from({ length: count }, (): AttackSocket => {
    const entry: AttackSocket = { socket: connect(Number(new URL(url).port), '127.0.0.1'), received: '', closed: false }
    entry.socket.setEncoding('utf8')
    entry.socket.on('connect', () => entry.socket.write('GET /orders/54?machine=16327129 HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\n\r\n'))
    entry.socket.on('data', (chunk: string) => { entry.received += chunk })
    entry.socket.on('error', () => {})
    entry.socket.on('close', () => { entry.closed = true })
    return entry
  })
  const drip = setInterval(() => { for (const { socket } of sockets) if (!socket.connecting && socket.writable) socket.write('a') }, 1000)
  const stop = (): void => {
    clearInterval(drip)
    for (const { socket } of sockets) socket.destroy()
  }
  t.teardown(stop)
  return { sockets, stop }
}

const ATTACK_ENV = { RATE_LIMIT_MAX: '1000000' }

t.test('more slow-body sockets than the process has descriptors: the ones over MAX_CONNECTIONS get a 503, the process lives and serves once they go', async (t) => {
  const server = await startServer({ ...ATTACK_ENV, MAX_CONNECTIONS: '100' }, { openFiles: 256 })
  t.teardown(() => { server.child.kill('SIGKILL') })
  const url = await server.url
  const attack = slowBodyAttack(t, url, 400)
  const isAnswered = (entry: AttackSocket): boolean => entry.received.startsWith('HTTP/1.1 200 ')
  const isRefused = (entry: AttackSocket): boolean => entry.received.startsWith('HTTP/1.1 503 ') && entry.received.includes('"code":"UNAVAILABLE"') && entry.closed
  await until(() => attack.sockets.every((entry) => isAnswered(entry) || entry.closed), { ...PATIENCE, everyMs: 250, what: 'every socket answered or closed' })

  t.equal(server.child.exitCode, null, 'the process is still running')
  const answered = attack.sockets.filter(isAnswered).length
  const refused = attack.sockets.filter(isRefused).length
  t.equal(answered + refused, 400, `every socket got an answer: 200 within the limit (${answered}), 503 and closed beyond it (${refused})`)
  t.ok(answered <= 100, 'no more than MAX_CONNECTIONS were served')
  t.ok(server.lines.some((line) => line.msg === 'MAX_CONNECTIONS reached: refusing new connections with 503'))

  attack.stop()
  t.equal(await orderStatusOnceServing(url), 200, 'the same process serves normally once the attack stops')
  t.equal(server.child.exitCode, null)
})

t.test('with MAX_CONNECTIONS above the descriptor limit it warns at start, and running out of descriptors still does not end it', async (t) => {
  const server = await startServer(ATTACK_ENV, { openFiles: 256 })
  t.teardown(() => { server.child.kill('SIGKILL') })
  const url = await server.url
  t.ok(server.lines.some((line) => /^MAX_CONNECTIONS=800 leaves too few of this process's 256 file descriptors/.test(String(line.msg))), 'warned at start')

  const attack = slowBodyAttack(t, url, 400)
  await until(() => server.lines.some((line) => line.msg === 'cannot read memory use; keeping the last reading'), { ...PATIENCE, everyMs: 250, what: 'the descriptors running out' })
  t.pass('the descriptors ran out (the memory sampler could not read /proc)')
  t.equal(server.child.exitCode, null, 'the process is still running')

  attack.stop()
  t.equal(await orderStatusOnceServing(url), 200, 'the same process serves normally once the attack stops')
  server.child.kill('SIGTERM')
  t.equal(await server.exit, 0)
})

t.test('SIGTERM with idle keep-alive and silent connections open: they are closed at once, a busy request is answered, the process stops cleanly', async (t) => {
  // a vendor behind a path prefix that holds its answer until the test releases it: a request is in flight at SIGTERM
  let release = (): void => {}
  const upstream = await startUpstream(t, (req, res) => { release = () => { answerOrder(req, res) } })
  const vendorBaseUrl = `${upstream.url}/vendor-api/v2`
  const server = await startServer({
    VENDOR_BASE_URL: vendorBaseUrl,
    VENDOR_APP_ID: DEMO_CREDENTIALS.appId,
    VENDOR_APP_SECRET: DEMO_CREDENTIALS.appSecret,
    VENDOR_SIGN_KEY: DEMO_CREDENTIALS.signKey,
    VENDOR_TIMEOUT_MS: '60000',
    SHUTDOWN_DELAY_MS: '200'
  })
  t.teardown(() => { server.child.kill('SIGKILL') })
  const url = await server.url
  await until(() => server.lines.some((line) => line.msg === 'ready'), { ...PATIENCE, what: 'the ready line' })
  t.match(server.lines.find((line) => line.msg === 'ready'), { vendor: vendorBaseUrl }, 'the ready line shows the base URL with its path prefix')

  const port = Number(new URL(url).port)
  const open = (send: string): AttackSocket => {
    const entry: AttackSocket = { socket: connect(port, '127.0.0.1'), received: '', closed: false }
    entry.socket.setEncoding('utf8')
    entry.socket.on('connect', () => { if (send !== '') entry.socket.write(send) })
    entry.socket.on('data', (chunk: string) => { entry.received += chunk })
    entry.socket.on('error', () => {})
    entry.socket.on('close', () => { entry.closed = true })
    t.teardown(() => { entry.socket.destroy() })
    return entry
  }
  const keptAlive = Array.from({ length: 20 }, () => open('GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n'))
  const silent = Array.from({ length: 20 }, () => open(''))
  await until(() => keptAlive.every((entry) => entry.received.includes('"status":"ok"')) && silent.every((entry) => !entry.socket.connecting), { ...PATIENCE, what: 'the idle connections open' })
  const busy = fetch(`${url}/orders/54?machine=16327129`).then((res) => res.status)
  await until(() => upstream.requests.length === 1, { ...PATIENCE, what: 'the busy request at the vendor' })
  t.match(upstream.requests[0]?.url, /^\/vendor-api\/v2\//, 'the vendor is called under its path prefix')

  server.child.kill('SIGTERM')
  await until(() => [...keptAlive, ...silent].every((entry) => entry.closed), { ...PATIENCE, what: 'every idle connection closed' })
  t.pass('every idle connection was closed, the busy request still at the vendor')
  release()
  t.equal(await busy, 200, 'the busy request got its answer')
  t.equal(await server.exit, 0, 'exit code 0')
  const messages = server.lines.map((line) => String(line.msg))
  t.ok(messages.includes('stopped'), 'it logged "stopped"')
  t.notOk(messages.some((msg) => msg.startsWith('killed by timeout')), 'not killed by the close-with-grace timeout')
})

/** A port some other process holds. */
async function takenPort (t: Test): Promise<number> {
  const holder = createServer()
  holder.listen(0, '127.0.0.1')
  await once(holder, 'listening')
  t.teardown(() => { holder.close() })
  return (holder.address() as AddressInfo).port
}

for (const setting of ['PORT', 'METRICS_PORT'] as const) {
  t.test(`a taken ${setting} ends the start with a line naming ${setting}, not an "unexpected error"`, async (t) => {
    const port = await takenPort(t)
    const server = await startServer({ [setting]: String(port) })
    t.teardown(() => { server.child.kill('SIGKILL') })
    t.equal(await server.exit, 1)
    t.match(server.lines.at(-1), { level: 60, code: 'EADDRINUSE', msg: `${setting}=${port} is already in use by another process; not starting` })
    t.notOk(server.lines.some((line) => /unexpected error/.test(String(line.msg))))
  })
}

t.test('npm start and the Docker image run the service with the node flags the bench and the soak use', async (t) => {
  const read = (path: string): string => readFileSync(new URL(path, import.meta.url), 'utf8')
  const command = ['node', ...SERVICE_NODE_FLAGS, 'dist/src/server.js']
  t.equal(JSON.parse(read('../package.json')).scripts.start, command.join(' '))
  t.match(read('../Dockerfile'), `\nCMD ["${command.join('", "')}"]\n`)
})
