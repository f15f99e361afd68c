import { once } from 'node:events'
import { connect } from 'node:net'
import t from 'tap'
import { start, StartRefused } from '../../src/bootstrap/start.js'
import { LOCAL_PORTS, lineSink, startService, startUpstream, until } from '../helper.js'

// start(env), in this process: config, logger, the simulator in demo mode, the API and the metrics
// server listening, and stop(). What only a process shows (signals, exit codes, the descriptor
// limit) is test/server.test.ts's.

/** start(env) when it is expected to refuse: the error it threw and the JSON lines it logged. */
async function refusal (env: Record<string, string>): Promise<{ error: unknown, lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = []
  const destination = lineSink((text) => { lines.push(JSON.parse(text)) })
  try {
    const service = await start({ ...LOCAL_PORTS, ...env }, { destination })
    await service.stop()
    return { error: undefined, lines }
  } catch (error) {
    return { error, lines }
  }
}

t.test('with no vendor configured it runs on the embedded simulator and says so first', async (t) => {
  const service = await startService(t)
  t.match(service.lines[0], { level: 40, msg: /DEMO MODE/ }, 'the first log line is the demo warning')
  t.ok(service.simulator, 'the simulator runs in this process')

  const res = await fetch(`${service.url}/orders/54?machine=16327129`)
  t.equal(res.status, 200)
  t.match(await res.json(), { id: 54, status: 'SUCCESS', items: [{ id: 70 }, { id: 71 }, { id: 72 }] })

  const listening = service.lines.find((line) => line.msg === 'metrics listening')?.metrics
  t.same(listening, { host: '127.0.0.1', port: Number(new URL(service.metricsUrl).port), path: '/metrics' }, 'metrics listen on a port of their own')
  const metricsUrl = `${service.metricsUrl}/metrics`
  t.not(new URL(metricsUrl).port, new URL(service.url).port)
  const metrics = await (await fetch(metricsUrl)).text()
  t.match(metrics, /http_request_duration_seconds_count\{route="\/orders\/:id",method="GET",status="200"\} 1/)
  t.match(metrics, /vendor_call_duration_seconds_count\{outcome="ok"\} 1/)
  t.equal((await fetch(`${service.url}/metrics`)).status, 404, 'the API port does not serve metrics')

  await service.stop()
  t.equal(service.lines.at(-1)?.msg, 'stopped', 'stop() shuts everything down')
  for (const url of [service.url, service.metricsUrl]) await t.rejects(fetch(`${url}/health/live`), `${url} no longer listens`)
})

t.test('the metrics line says what is listened on: METRICS_HOST as configured (0.0.0.0 by default) and the port taken', async (t) => {
  // empty counts as unset: the default
  const service = await startService(t, { METRICS_HOST: '' })
  t.equal(service.config.metricsHost, '0.0.0.0', 'the default')
  const listening = service.lines.find((line) => line.msg === 'metrics listening')?.metrics as { host: string, port: number } | undefined
  t.match(listening, { host: '0.0.0.0', port: Number, path: '/metrics' }, 'not the loopback address listen() reports')
  t.not(listening?.port, 0, 'the port the system picked, not the configured 0')
  t.equal((await fetch(`http://127.0.0.1:${listening?.port}/metrics`)).status, 200, 'that port serves the metrics')
})

t.test('in demo mode the simulator\'s delivery notifications wake the service: its notify URL is our callback route', async (t) => {
  const service = await startService(t)
  const notifyUrl = service.simulator?.simulator.notifyUrl ?? ''
  t.match(notifyUrl, new RegExp(`^${service.url}/callbacks/delivery/[0-9a-f]{48}$`), 'a random token of its own')
  const res = await fetch(notifyUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"method":"device.delivery.response","order_id":2001,"record_id":20011,"deliver_status":"1","floor_status":"1","error_msg":""}' })
  t.equal(res.status, 204, 'the route exists and takes it')
  t.notOk(JSON.stringify(service.lines).includes(notifyUrl.split('/').at(-1)!), 'the token is never logged')
})

t.test('a bad setting: StartRefused naming it, and one fatal line naming it, whatever LOG_LEVEL says', async (t) => {
  for (const [setting, value] of [['LOG_LEVEL', 'loud'], ['PORT', 'not-a-port'], ['VENDOR_TIMEOUT_MS', '-1']] as const) {
    const { error, lines } = await refusal({ [setting]: value, LOG_LEVEL: setting === 'LOG_LEVEL' ? value : 'silent' })
    t.type(error, StartRefused, `${setting}=${value} refuses the start`)
    t.match((error as Error).message, new RegExp(`\\b${setting}: `), 'the error names the setting')
    t.equal(lines.length, 1, 'one line')
    t.match(lines[0], { level: 60, msg: 'invalid configuration, not starting', problems: [new RegExp(`^${setting}: `)] })
  }
})

t.test('NODE_ENV=production without vendor settings: StartRefused naming each one, the secret it has never logged', async (t) => {
  const { error, lines } = await refusal({ NODE_ENV: 'production', VENDOR_APP_SECRET: 'top-secret-value-123' })
  t.type(error, StartRefused)
  const output = JSON.stringify(lines)
  for (const name of ['VENDOR_BASE_URL', 'VENDOR_APP_ID', 'VENDOR_SIGN_KEY']) {
    t.match((error as Error).message, name)
    t.match(output, name)
  }
  t.notMatch(`${(error as Error).message}${output}`, 'top-secret-value-123')
})

t.test('a taken PORT: StartRefused naming it, and the metrics server it had started is closed again', async (t) => {
  const holder = await startUpstream(t, (_req, res) => { res.end() })
  const port = new URL(holder.url).port
  const { error, lines } = await refusal({ PORT: port })
  t.type(error, StartRefused)
  t.equal((error as Error).message, `PORT=${port} is already in use by another process`)
  t.match(lines.at(-1), { level: 60, code: 'EADDRINUSE', msg: `PORT=${port} is already in use by another process; not starting` })
  const listening = lines.find((line) => line.msg === 'metrics listening')?.metrics as { host: string, port: number } | undefined
  t.match(listening, { host: '127.0.0.1', port: Number }, 'metrics had started listening')
  const metricsUrl = `http://127.0.0.1:${listening?.port}/metrics`
  await t.rejects(fetch(metricsUrl), 'and no longer do')
})

t.test('stop() is idempotent: every call waits for the one shutdown, which logs "stopped" once', async (t) => {
  const service = await startService(t)
  const [first, second] = [service.stop(), service.stop({ signal: 'SIGTERM' })]
  await Promise.all([first, second])
  await service.stop()
  const messages = service.lines.map((line) => line.msg)
  t.equal(messages.filter((msg) => msg === 'stopped').length, 1, '"stopped" once')
  t.equal(messages.filter((msg) => msg === 'shutting down: readiness off, draining').length, 1, 'one shutdown')
  t.equal(messages.at(-1), 'stopped', 'the last line')
  t.equal(service.app.readiness.ready, false, 'readiness is off')
  for (const url of [service.url, service.metricsUrl]) await t.rejects(fetch(`${url}/health/live`), `${url} no longer listens`)
})

t.test('a half-sent request on the metrics port does not hold the shutdown: stop() resolves, "stopped" logged', async (t) => {
  const service = await startService(t)
  const { hostname, port } = new URL(service.metricsUrl)
  const socket = connect(Number(port), hostname)
  socket.on('error', () => {})
  t.teardown(() => { socket.destroy() })
  await once(socket, 'connect')
  socket.write('GET /metrics HTTP/1.1\r\nHost: metr')
  await until(async () => await new Promise<number>((resolve) => { service.metricsServer.server.getConnections((_error, count) => { resolve(count) }) }) === 1, { what: 'the metrics server holding the connection' })
  // not events.once: a reset is an 'error' first, and that would reject it
  const closed = new Promise((resolve) => socket.once('close', resolve))
  await service.stop()
  t.equal(service.lines.at(-1)?.msg, 'stopped')
  await closed
  t.pass('the half-sent connection was closed by the server')
})
