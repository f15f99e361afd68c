/**
 * `npm run soak [-- --seconds 60 --concurrency 64]`: the built service against the simulator
 * with injected faults (20% resets, 10% slow answers past the deadline, 5% garbage) under
 * steady load. Prints requests by status, answers that were neither 200/304 nor a mapped
 * problem (must be 0), whether the process survived, and RSS at the middle and the end
 * (growth must stay under 10%). Exits non-zero when any of that fails.
 */
import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'
import { ERROR_KINDS } from '../src/errors/catalogue.js'
import { DEMO_CREDENTIALS } from '../src/simulator/credentials.js'
import { killAll, SERVICE_NODE_FLAGS, startProcess } from './processes.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: process.env.SOAK_SECONDS ?? '60' },
    concurrency: { type: 'string', default: '64' }
  }
})
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const root = new URL('../../', import.meta.url)
const script = (path: string): string => new URL(path, root).pathname

async function rssMiB (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
}

// Orders worth asking about: documented, progressing, terminal, not found, offline, bad input.
const TARGETS = [
  '/orders/54?machine=16327129', '/orders/2001?machine=16327129', '/orders/2002?machine=16327129',
  '/orders/1001?machine=16327129', '/orders/1008?machine=16327129', '/orders/4005?machine=16327129',
  '/orders/99999?machine=16327129', '/orders/54?machine=30000002', '/orders/6007?machine=16327128',
  '/orders/007?machine=abc', '/orders/54?machine=1234567'
]

process.on('exit', killAll)

try {
  // both log every request or fault: the driver reads neither log
  const simulator = await startProcess('simulator', script('dist/src/simulator/main.js'), { SIMULATOR_HOST: '127.0.0.1' }, { readyPath: '/health', portVar: 'SIMULATOR_PORT', quiet: true })
  const vendorUrl = simulator.url
  const faults = { rates: { reset: 0.2, slow: 0.1, garbage: 0.05 }, slowMs: 8000 }
  const put = await fetch(`${vendorUrl}/_simulator/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults) })
  if (!put.ok) throw new Error(`could not set faults: ${put.status}`)

  const service = await startProcess('service', script('dist/src/server.js'), {
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    VENDOR_BASE_URL: vendorUrl,
    VENDOR_APP_ID: DEMO_CREDENTIALS.appId,
    VENDOR_APP_SECRET: DEMO_CREDENTIALS.appSecret,
    VENDOR_SIGN_KEY: DEMO_CREDENTIALS.signKey,
    // the faults must reach the service at full load: the call budget would answer most requests itself
    VENDOR_MAX_CALLS_PER_SECOND: '0'
  }, { readyPath: '/health/live', nodeArgs: SERVICE_NODE_FLAGS, quiet: true })
  const serviceUrl = service.url
  const pool = new Pool(serviceUrl, { connections: concurrency })

  const byStatus = new Map<number, number>()
  const unmapped: string[] = []
  const etags = new Map<string, string>()
  let total = 0
  const deadline = Date.now() + seconds * 1000
  let rssMiddle = 0
  const middle = sleep(seconds * 500).then(async () => { rssMiddle = await rssMiB(service.child.pid!) })

  async function worker (n: number): Promise<void> {
    for (let i = n; Date.now() < deadline; i += concurrency) {
      // every other request asks for an order nobody asked for before: a vendor call each, so faults bite
      const path = i % 2 === 0 ? `/orders/${100_000 + Math.floor(Math.random() * 1e9)}?machine=16327129` : TARGETS[i % TARGETS.length]!
      const etag = etags.get(path)
      const res = await pool.request({ path, method: 'GET', headers: etag !== undefined && i % 3 === 0 ? { 'if-none-match': etag } : {} })
      const body = await res.body.text()
      total++
      byStatus.set(res.statusCode, (byStatus.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode === 200) {
        etags.set(path, String(res.headers.etag))
      } else if (res.statusCode !== 304 && !isMappedProblem(res.statusCode, String(res.headers['content-type']), body)) {
        unmapped.push(`${res.statusCode} ${body.slice(0, 120)}`)
      }
    }
  }
  await Promise.all([...Array.from({ length: concurrency }, (_, n) => worker(n)), middle])
  const rssEnd = await rssMiB(service.child.pid!)
  const alive = service.child.exitCode === null && (await fetch(`${serviceUrl}/health/live`)).ok
  await pool.close()
  const simulatorStats = await (await fetch(`${vendorUrl}/_simulator/stats`)).json() as { calls: number, faults: Record<string, number> }

  const growth = rssMiddle > 0 ? (rssEnd - rssMiddle) / rssMiddle : 0
  console.log(`soak: ${seconds} s, ${concurrency} connections, faults ${JSON.stringify(faults.rates)}`)
  console.log(`requests: ${total} (${(total / seconds).toFixed(0)}/s); vendor calls: ${simulatorStats.calls}; faults served: ${JSON.stringify(simulatorStats.faults)}`)
  console.log(`by status: ${[...byStatus.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}=${n}`).join(' ')}`)
  console.log(`unmapped answers: ${unmapped.length}${unmapped.length > 0 ? `, e.g. ${unmapped.slice(0, 3).join(' | ')}` : ''}`)
  console.log(`process alive: ${alive}`)
  if (!alive) console.log(service.output())
  console.log(`RSS: middle ${rssMiddle.toFixed(1)} MiB, end ${rssEnd.toFixed(1)} MiB, growth ${(growth * 100).toFixed(1)}% (limit 10%)`)
  const ok = unmapped.length === 0 && alive && growth < 0.1
  console.log(ok ? 'soak: PASS' : 'soak: FAIL')
  process.exit(ok ? 0 : 1)
} catch (error) {
  console.error(error)
  process.exit(1)
}

/** A 4xx/5xx must be problem+json whose code is in the catalogue with the same status. */
function isMappedProblem (status: number, contentType: string, body: string): boolean {
  if (!contentType.startsWith('application/problem+json')) return false
  try {
    const problem = JSON.parse(body)
    const kind = ERROR_KINDS[problem.code as keyof typeof ERROR_KINDS]
    return kind !== undefined && problem.status === status && typeof problem.requestId === 'string'
  } catch {
    return false
  }
}
