import type { FastifyInstance } from 'fastify'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { DestinationStream } from 'pino'
import { DEMO_CREDENTIALS } from '../src/simulator/credentials.js'
import { stopProcess } from '../scripts/processes.js'
import { startOtlpSink, startSimulator } from './contestants.js'
import { median } from './stats.js'

// `node dist/bench/compare-build.js --compare-build DIST [--path hit|miss|untraced-hit] [--tracing off|every|sampled] [--rounds 20] [--requests 2000]`:
// the CPU time of one request in this build against another build (`npm run build` of another
// commit). Both apps run in this one process, each as start() builds it (logger at warn, metrics),
// alternately, through app.inject: other load on the machine hits them alike, and CPU time, not
// wall time, is compared. The vendor simulator runs in a process of its own, so a miss's CPU
// here is the app's own work: signing, the HTTP call, parsing, normalizing, the answer.
//   hit:  order 1001 (terminal) from the response cache
//   miss: order 54 with CACHE_ENABLED=false, one vendor call per request
// --tracing turns tracing on in this build's app (every request, or 1% sampled), exporting OTLP to a
// sink process that discards it; the compared build's stays off. Node 20's promise hook, which
// tracing's async context turns on for the whole process, is on only while a sampled request is in
// flight, and the two apps never run at once, so the compared build does not pay for it.

const { values } = parseArgs({
  options: {
    'compare-build': { type: 'string' },
    path: { type: 'string', default: 'hit' },
    tracing: { type: 'string', default: 'off' },
    rounds: { type: 'string', default: '20' },
    requests: { type: 'string', default: '2000' }
  }
})
const USAGE = 'usage: node dist/bench/compare-build.js --compare-build DIST [--path hit|miss] [--tracing off|every|sampled] [--rounds N] [--requests N]'
if (values['compare-build'] === undefined || !['hit', 'miss'].includes(values.path) || !['off', 'every', 'sampled'].includes(values.tracing)) throw new Error(USAGE)
const miss = values.path === 'miss'
const rounds = Number(values.rounds)
const requests = Number(values.requests)
const THIS_BUILD = new URL('..', import.meta.url).pathname
const ORDER = miss ? '/orders/54?machine=16327129' : '/orders/1001?machine=16327129'

const discard: DestinationStream = { write () {} }
const simulator = await startSimulator()
const env = {
  LOG_LEVEL: 'warn',
  VENDOR_BASE_URL: simulator.url,
  VENDOR_APP_ID: DEMO_CREDENTIALS.appId,
  VENDOR_APP_SECRET: DEMO_CREDENTIALS.appSecret,
  VENDOR_SIGN_KEY: DEMO_CREDENTIALS.signKey,
  CACHE_ENABLED: String(!miss),
  CACHE_TERMINAL_MS: '3600000',
  RATE_LIMIT_MAX: '1000000',
  MAX_EVENT_LOOP_DELAY_MS: '0',
  MAX_RSS_BYTES: '0'
}

/** A module of a build, where it is now (src/<concern>/) or where it was before the structure pass (src/). */
async function load (dist: string, concern: string, file: string): Promise<any> {
  const nested = resolve(dist, 'src', concern, file)
  return await import(pathToFileURL(existsSync(nested) ? nested : resolve(dist, 'src', file)).href)
}

const sink = values.tracing === 'off' ? undefined : await startOtlpSink()
let started: { shutdown: () => Promise<unknown> } | undefined

/** The tracing of this build, as start() starts it, when --tracing asks for it. */
async function tracingOf (dist: string): Promise<any> {
  if (sink === undefined || dist !== THIS_BUILD) return undefined
  const { startTracing } = await load(dist, 'observability', 'tracing.js')
  const sampler = values.tracing === 'every' ? { name: 'parentbased_always_on', ratio: 1 } : { name: 'parentbased_traceidratio', ratio: 0.01 }
  return (started = await startTracing({ exporters: ['otlp'], otlp: { url: `${sink.url}/v1/traces`, protocol: 'http/protobuf' } }, { serviceVersion: 'bench', sampler }))
}

/** The app of the build in `dist` as start() builds it (tracing off, unless --tracing for this build), answering the path once. */
async function appOf (dist: string): Promise<FastifyInstance> {
  const [{ buildApp }, { loadConfig }, { createLogger }, { createMetrics }] = await Promise.all([
    load(dist, 'bootstrap', 'app.js'), load(dist, 'config', 'config.js'), load(dist, 'observability', 'logger.js'), load(dist, 'observability', 'metrics.js')
  ])
  const config = loadConfig(env)
  const tracing = await tracingOf(dist)
  const app: FastifyInstance = await buildApp(config, { logger: createLogger('warn', discard, { traceContext: tracing !== undefined }), metrics: createMetrics(), tracing })
  const first = await app.inject(ORDER)
  if (first.statusCode !== 200) throw new Error(`${dist}: HTTP ${first.statusCode} ${first.body.slice(0, 300)}`)
  return app
}

const builds = [{ name: 'this build', dist: THIS_BUILD }, { name: 'the compared build', dist: resolve(values['compare-build']) }]
const apps = await Promise.all(builds.map(async ({ dist }) => await appOf(dist)))

/** CPU µs per request over `requests` sequential injected requests. */
async function measure (app: FastifyInstance): Promise<number> {
  const before = process.cpuUsage()
  for (let i = 0; i < requests; i++) await app.inject(ORDER)
  const used = process.cpuUsage(before)
  return (used.user + used.system) / requests
}

const samples: number[][] = builds.map(() => [])
const ratios: number[] = []
// the first round warms up the JIT and is not counted; the order of the two alternates
for (let round = 0; round <= rounds; round++) {
  const order = round % 2 === 0 ? [0, 1] : [1, 0]
  const us: number[] = []
  for (const index of order) us[index] = await measure(apps[index]!)
  if (round === 0) continue
  us.forEach((value, index) => samples[index]!.push(value))
  ratios.push(us[0]! / us[1]!)
}
process.stdout.write(`CPU µs per ${miss ? 'uncached request (one vendor call)' : 'cache hit'} (app.inject), median (min–max) of ${rounds} rounds of ${requests}; this build's tracing: ${values.tracing}\n`)
for (const [index, { name }] of builds.entries()) {
  const us = samples[index]!
  process.stdout.write(`  ${name.padEnd(20)} ${median(us).toFixed(1).padStart(6)} (${Math.min(...us).toFixed(1)}–${Math.max(...us).toFixed(1)})\n`)
}
const sorted = [...ratios].sort((a, b) => a - b)
process.stdout.write(`  this ÷ compared, per round: median ${median(ratios).toFixed(3)}×, middle half ${sorted[Math.floor(rounds / 4)]!.toFixed(3)}–${sorted[Math.floor((3 * rounds) / 4)]!.toFixed(3)}×\n`)
await Promise.all(apps.map(async (app) => await app.close()))
await stopProcess(simulator)
await started?.shutdown()
if (sink !== undefined) await stopProcess(sink)
