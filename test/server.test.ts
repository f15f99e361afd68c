import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { buildSimulator } from '../src/simulator/app.js'
import { DEMO_CREDENTIALS } from '../src/simulator/credentials.js'

const SERVER = new URL('../src/server.ts', import.meta.url).pathname

// each test starts real processes that compile TypeScript on start: slow on a busy 2-core machine
t.setTimeout(180_000)

interface Started {
  child: ChildProcess
  lines: Array<Record<string, unknown>>
  url: Promise<string>
  exit: Promise<number | null>
}

/** Runs src/server.ts as a real process (with the TypeScript loader tap gave us), reading its JSON log lines. */
function startServer (env: Record<string, string>): Started {
  const child = spawn(process.execPath, [...process.execArgv, SERVER], {
    // transpile only, as tap's own loader does: type-checking is tsc's job in CI, and slow here
    env: { PATH: process.env.PATH ?? '', TS_NODE_TRANSPILE_ONLY: '1', PORT: '0', HOST: '127.0.0.1', METRICS_PORT: '0', METRICS_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const lines: Array<Record<string, unknown>> = []
  const url = new Promise<string>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line)
        lines.push(entry)
        const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(entry.msg))
        if (match) resolve(match[1]!)
      } catch { /* not a log line */ }
    })
  })
  const exit = once(child, 'exit').then(([code]) => code as number | null)
  return { child, lines, url, exit }
}

t.test('with no vendor configured it runs on the embedded simulator and says so first', async (t) => {
  const server = startServer({})
  t.teardown(() => { server.child.kill('SIGKILL') })
  const url = await server.url
  t.match(server.lines[0], { level: 40, msg: /DEMO MODE/ }, 'the first log line is the demo warning')

  const res = await fetch(`${url}/orders/54?machine=16327129`)
  t.equal(res.status, 200)
  t.match(await res.json(), { id: 54, status: 'SUCCESS', items: [{ id: 70 }, { id: 71 }, { id: 72 }] })

  const metricsUrl = String(server.lines.find((line) => line.msg === 'metrics listening')?.metrics)
  t.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'metrics listen on a port of their own')
  t.not(new URL(metricsUrl).port, new URL(url).port)
  const metrics = await (await fetch(metricsUrl)).text()
  t.match(metrics, /http_request_duration_seconds_count\{route="\/orders\/:id",method="GET",status="200"\} 1/)
  t.match(metrics, /vendor_call_duration_seconds_count\{outcome="ok"\} 1/)
  t.equal((await fetch(`${url}/metrics`)).status, 404, 'the API port does not serve metrics')

  server.child.kill('SIGTERM')
  t.equal(await server.exit, 0, 'SIGTERM shuts down cleanly')
})

t.test('NODE_ENV=production without vendor settings refuses to start, naming each one', async (t) => {
  const server = startServer({ NODE_ENV: 'production', VENDOR_APP_SECRET: 'top-secret-value-123' })
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
  const server = startServer({
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
  await sleep(200)
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
