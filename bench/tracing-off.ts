import type { FastifyInstance } from 'fastify'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { DestinationStream } from 'pino'
import { buildSimulator } from '../src/simulator/app.js'
import { DEMO_CREDENTIALS } from '../src/simulator/credentials.js'
import { median } from './stats.js'

// `node dist/bench/tracing-off.js --compare-build DIST [--rounds 20] [--requests 5000]`: the CPU time
// of one cache hit in this build with tracing off (no OTEL_* variables) against another build, the
// commit before tracing (`npm run build` there). Both apps run in this one process, each as start()
// builds it (logger at warn, metrics), alternately, through app.inject: other load on the machine
// hits them alike, and CPU time, not wall time, is compared. What is left is the app's own work.

const { values } = parseArgs({ options: { 'compare-build': { type: 'string' }, rounds: { type: 'string', default: '20' }, requests: { type: 'string', default: '5000' } } })
if (values['compare-build'] === undefined) throw new Error('usage: node dist/bench/tracing-off.js --compare-build DIST [--rounds N] [--requests N]')
const rounds = Number(values.rounds)
const requests = Number(values.requests)
const THIS_BUILD = new URL('..', import.meta.url).pathname
const ORDER = '/orders/1001?machine=16327129'

const discard: DestinationStream = { write () {} }
const simulator = buildSimulator()
const vendorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 })
const env = {
  LOG_LEVEL: 'warn',
  VENDOR_BASE_URL: vendorUrl,
  VENDOR_APP_ID: DEMO_CREDENTIALS.appId,
  VENDOR_APP_SECRET: DEMO_CREDENTIALS.appSecret,
  VENDOR_SIGN_KEY: DEMO_CREDENTIALS.signKey,
  CACHE_TERMINAL_MS: '3600000',
  RATE_LIMIT_MAX: '1000000',
  MAX_EVENT_LOOP_DELAY_MS: '0',
  MAX_RSS_BYTES: '0'
}

/** The app of the build in `dist` as start() builds it with tracing off, its cache primed. */
async function appOf (dist: string): Promise<FastifyInstance> {
  const load = async (module: string) => await import(pathToFileURL(resolve(dist, 'src', module)).href)
  const [{ buildApp }, { loadConfig }, { createLogger }, { createMetrics }] = await Promise.all([load('app.js'), load('config.js'), load('logger.js'), load('metrics.js')])
  const config = loadConfig(env)
  const app: FastifyInstance = await buildApp({ ...config, vendor: config.vendor }, { logger: createLogger('warn', discard), metrics: createMetrics() })
  const first = await app.inject(ORDER)
  if (first.statusCode !== 200) throw new Error(`${dist}: HTTP ${first.statusCode} ${first.body.slice(0, 300)}`)
  return app
}

const builds = [{ name: 'this build, tracing off', dist: THIS_BUILD }, { name: 'the compared build', dist: resolve(values['compare-build']) }]
const apps = await Promise.all(builds.map(async ({ dist }) => await appOf(dist)))

/** CPU µs per cache hit over `requests` sequential injected requests. */
async function measure (app: FastifyInstance): Promise<number> {
  const before = process.cpuUsage()
  for (let i = 0; i < requests; i++) await app.inject(ORDER)
  const used = process.cpuUsage(before)
  return (used.user + used.system) / requests
}

const samples: number[][] = builds.map(() => [])
const ratios: number[] = []
// the first round warms up the JIT and is not counted
for (let round = 0; round <= rounds; round++) {
  const us = []
  for (const app of apps) us.push(await measure(app))
  if (round === 0) continue
  us.forEach((value, index) => samples[index]!.push(value))
  ratios.push(us[0]! / us[1]!)
}
process.stdout.write(`CPU µs per cache hit (app.inject), median (min–max) of ${rounds} rounds of ${requests}\n`)
for (const [index, { name }] of builds.entries()) {
  const us = samples[index]!
  process.stdout.write(`  ${name.padEnd(26)} ${median(us).toFixed(1).padStart(6)} (${Math.min(...us).toFixed(1)}–${Math.max(...us).toFixed(1)})\n`)
}
const sorted = [...ratios].sort((a, b) => a - b)
process.stdout.write(`  this ÷ compared, per round: median ${median(ratios).toFixed(3)}×, middle half ${sorted[Math.floor(rounds / 4)]!.toFixed(3)}–${sorted[Math.floor((3 * rounds) / 4)]!.toFixed(3)}×\n`)
await Promise.all([...apps.map(async (app) => await app.close()), simulator.close()])
