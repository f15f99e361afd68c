import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { answering, freePort, SERVICE_NODE_FLAGS, spawnNode, type NodeProcess } from '../scripts/processes.js'
import { buildSimulator } from '../src/simulator/app.js'
import { DEMO_CREDENTIALS } from '../src/simulator/credentials.js'
import { answerOrder, startService, startUpstream } from './helper.js'

// The tests here need a real process: signals, exit codes, the descriptor limit. A started service
// alone is start()'s, in-process (test/helper.ts's startService).

const SERVER = new URL('../src/server.ts', import.meta.url).pathname

// each test starts real processes that compile TypeScript on start: slow on a busy 2-core machine
t.setTimeout(600_000)

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

t.test('with no vendor configured it runs on the embedded simulator and says so first', async (t) => {
  const service = await startService(t)
  t.match(service.lines[0], { level: 40, msg: /DEMO MODE/ }, 'the first log line is the demo warning')
  t.ok(service.simulator, 'the simulator runs in this process')

  const res = await fetch(`${service.url}/orders/54?machine=16327129`)
  t.equal(res.status, 200)
  t.match(await res.json(), { id: 54, status: 'SUCCESS', items: [{ id: 70 }, { id: 71 }, { id: 72 }] })

  const metricsUrl = String(service.lines.find((line) => line.msg === 'metrics listening')?.metrics)
  t.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'metrics listen on a port of their own')
  t.equal(metricsUrl, `${service.metricsUrl}/metrics`)
  t.not(new URL(metricsUrl).port, new URL(service.url).port)
  const metrics = await (await fetch(metricsUrl)).text()
  t.match(metrics, /http_request_duration_seconds_count\{route="\/orders\/:id",method="GET",status="200"\} 1/)
  t.match(metrics, /vendor_call_duration_seconds_count\{outcome="ok"\} 1/)
  t.equal((await fetch(`${service.url}/metrics`)).status, 404, 'the API port does not serve metrics')

  await service.stop()
  t.equal(service.lines.at(-1)?.msg, 'stopped', 'stop() shuts everything down')
  for (const url of [service.url, service.metricsUrl]) await t.rejects(fetch(`${url}/health/live`), `${url} no longer listens`)
})

t.test('in demo mode the simulator\'s delivery notifications wake the service: its notify URL is our callback route', async (t) => {
  const service = await startService(t)
  const notifyUrl = service.simulator?.simulator.notifyUrl ?? ''
  t.match(notifyUrl, new RegExp(`^${service.url}/callbacks/delivery/[0-9a-f]{48}$`), 'a random token of its own')
  const res = await fetch(notifyUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"method":"device.delivery.response","order_id":2001,"record_id":20011,"deliver_status":"1","floor_status":"1","error_msg":""}' })
  t.equal(res.status, 204, 'the route exists and takes it')
  t.notOk(JSON.stringify(service.lines).includes(notifyUrl.split('/').at(-1)!), 'the token is never logged')
})

t.test('NODE_ENV=production without vendor settings refuses to start, naming each one', async (t) => {
  const server = await startServer({ NODE_ENV: 'production', VENDOR_APP_SECRET: 'top-secret-value-123' })
  t.teardown(() => { server.child.kill('SIGKILL') })
  t.equal(await server.exit, 1)
  const output = JSON.stringify(server.lines)
  for (const name of ['VENDOR_BASE_URL', 'VENDOR_APP_ID', 'VENDOR_SIGN_KEY']) t.match(output, name)
  t.notMatch(output, 'top-secret-value-123')
})

t.test('SIGTERM under load: readiness fails first, in-flight requests complete, new connections are refused', async (t) => {
  const simulator = buildSimulator({ faults: { latencyMs: 1200 } })
  t.teardown(() => simulator.close())
  const vendorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 })
  const server = await startServer({
    VENDOR_BASE_URL: vendorUrl,
    VENDOR_APP_ID: DEMO_CREDENTIALS.appId,
    VENDOR_APP_SECRET: DEMO_CREDENTIALS.appSecret,
    VENDOR_SIGN_KEY: DEMO_CREDENTIALS.signKey,
    SHUTDOWN_DELAY_MS: '400',
    LOG_LEVEL: 'info'
  })
  t.teardown(() => { server.child.kill('SIGKILL') })
  const url = await server.url

  const inFlight = ['54', '1001', '1002', '1003', '1007'].map((id) => fetch(`${url}/orders/${id}?machine=16327129`).then((res) => res.status))
  await until(() => simulator.simulator.stats.calls === 5, 20)
  t.equal(simulator.simulator.stats.calls, 5, 'all five are at the vendor')
  server.child.kill('SIGTERM')
  await sleep(100)

  const ready = await fetch(`${url}/health/ready`)
  t.equal(ready.status, 503, 'readiness fails while draining')
  await sleep(500)
  await t.rejects(fetch(`${url}/health/live`, { headers: { connection: 'close' } }), 'new connections are refused once the listener closed')

  t.same(await Promise.all(inFlight), [200, 200, 200, 200, 200], 'no in-flight request was dropped')
  t.equal(await server.exit, 0)
})

/** Polls until `condition` holds, at most `tries` times: a guard against hanging, not a measurement. */
async function until (condition: () => boolean, tries = 240): Promise<boolean> {
  for (let i = 0; i < tries && !condition(); i++) await sleep(250)
  return condition()
}

/** GET the documented example order until it answers 200 (or the tries run out); its last status. */
async function orderStatusOnceServing (url: string): Promise<number | string> {
  let status: number | string = 'no answer'
  for (let i = 0; i < 40; i++) {
    status = await fetch(`${url}/orders/54?machine=16327129`).then((res) => res.status, (error: Error) => error.message)
    if (status === 200) break
    await sleep(250)
  }
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
  await until(() => attack.sockets.every((entry) => isAnswered(entry) || entry.closed))

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
  const exhausted = await until(() => server.lines.some((line) => line.msg === 'cannot read memory use; keeping the last reading'))
  t.ok(exhausted, 'the descriptors ran out (the memory sampler could not read /proc)')
  t.equal(server.child.exitCode, null, 'the process is still running')

  attack.stop()
  t.equal(await orderStatusOnceServing(url), 200, 'the same process serves normally once the attack stops')
  server.child.kill('SIGTERM')
  t.equal(await server.exit, 0)
})

t.test('SIGTERM with idle keep-alive and silent connections open: they are closed at once, a busy request is answered, the process stops cleanly', async (t) => {
  // a vendor behind a path prefix, slow enough that a request is in flight at SIGTERM
  const upstream = await startUpstream(t, (req, res) => { setTimeout(() => answerOrder(req, res), 1000) })
  const vendorBaseUrl = `${upstream.url}/vendor-api/v2`
  const server = await startServer({
    VENDOR_BASE_URL: vendorBaseUrl,
    VENDOR_APP_ID: DEMO_CREDENTIALS.appId,
    VENDOR_APP_SECRET: DEMO_CREDENTIALS.appSecret,
    VENDOR_SIGN_KEY: DEMO_CREDENTIALS.signKey,
    SHUTDOWN_DELAY_MS: '200'
  })
  t.teardown(() => { server.child.kill('SIGKILL') })
  const url = await server.url
  await until(() => server.lines.some((line) => line.msg === 'ready'))
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
  await until(() => keptAlive.every((entry) => entry.received.includes('"status":"ok"')) && silent.every((entry) => !entry.socket.connecting))
  const busy = fetch(`${url}/orders/54?machine=16327129`).then((res) => res.status)
  await until(() => upstream.requests.length === 1)
  t.match(upstream.requests[0]?.url, /^\/vendor-api\/v2\//, 'the vendor is called under its path prefix')

  server.child.kill('SIGTERM')
  t.equal(await busy, 200, 'the busy request got its answer')
  t.equal(await server.exit, 0, 'exit code 0')
  const messages = server.lines.map((line) => String(line.msg))
  t.ok(messages.includes('stopped'), 'it logged "stopped"')
  t.notOk(messages.some((msg) => msg.startsWith('killed by timeout')), 'not killed by the close-with-grace timeout')
  t.ok([...keptAlive, ...silent].every((entry) => entry.closed), 'every idle connection was closed')
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
