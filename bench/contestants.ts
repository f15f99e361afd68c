import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { DEMO_CREDENTIALS } from '../src/simulator/credentials.js'
import type { BenchOptions } from './options.js'
import { SERVICE_NODE_FLAGS, startProcess, type Started } from '../scripts/processes.js'

// Every system under test runs from the production build, in a process of its own.

const script = (path: string): string => fileURLToPath(new URL(path, import.meta.url))
const SERVICE = script('../src/server.js')
const SIMULATOR = script('../src/simulator/main.js')
const PASSTHROUGH = script('./baselines/passthrough.js')
const CONSTANT = script('./baselines/constant.js')
const OTLP_SINK = script('./baselines/otlp-sink.js')
const EXPRESS_BFF = script('./baselines/express-bff.js')
const SSE_FLOOR = script('./baselines/sse-floor.js')

/** every contestant runs as in production, on the loopback interface */
const PRODUCTION = { NODE_ENV: 'production', HOST: '127.0.0.1' }

/** What the replicas of a run sign what they share through Redis with (docs/redis-trust.md): production requires one. */
export const BENCH_SIGNING_KEY = randomBytes(32).toString('hex')

/** how long the service may keep a terminal order (the lead's CACHE_TERMINAL_MS default) */
export const TERMINAL_MS = 300_000

const vendorEnv = (simulator: Started): Record<string, string> => ({
  ...PRODUCTION,
  VENDOR_BASE_URL: simulator.url,
  VENDOR_APP_ID: DEMO_CREDENTIALS.appId,
  VENDOR_APP_SECRET: DEMO_CREDENTIALS.appSecret,
  VENDOR_SIGN_KEY: DEMO_CREDENTIALS.signKey
})

/** node flags of a server process: with --profile, a CPU profile per process */
export function profileArgs (options: BenchOptions, name: string): string[] {
  if (options.profile === null) return []
  return ['--cpu-prof', `--cpu-prof-dir=${resolve(options.profile)}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`]
}

export async function startSimulator (): Promise<Started> {
  // it logs every request at info level; that cost is the same for every contestant
  return await startProcess('simulator', SIMULATOR, { ...PRODUCTION, SIMULATOR_HOST: '127.0.0.1' }, { readyPath: '/health', portVar: 'SIMULATOR_PORT', quiet: true })
}

export interface ServiceVariant {
  /** the contestant's name in the log (default: service) */
  name?: string
  /** more environment: the OTEL_* variables of the tracing scenario */
  env?: Record<string, string>
  /** another build's dist folder to run instead of this one */
  build?: string
  /** the process's limit on open files (ulimit -n): the events scenario holds thousands of sockets */
  openFiles?: number
}

/** The service, from the production build, with the node flags it ships with unless told others. */
export async function startService (simulator: Started, options: BenchOptions, cacheEnabled: boolean, nodeArgs = SERVICE_NODE_FLAGS, variant: ServiceVariant = {}): Promise<Started> {
  const server = variant.build === undefined ? SERVICE : resolve(variant.build, 'src/server.js')
  return await startProcess(variant.name ?? 'service', server, {
    ...vendorEnv(simulator),
    LOG_LEVEL: 'warn',
    // read by the service once it has a response cache; ignored by builds without one
    CACHE_ENABLED: String(cacheEnabled),
    CACHE_FRESH_MS: String(options.freshMs),
    CACHE_TERMINAL_MS: String(TERMINAL_MS),
    // the load generator is one client from one address: the per-client limit would measure itself
    RATE_LIMIT_MAX: '1000000',
    // the uncached scenarios measure vendor calls as fast as they go: the budget would measure itself too
    VENDOR_MAX_CALLS_PER_SECOND: '0',
    // several services may run back to back; the metrics port is not what is measured
    METRICS_PORT: '0',
    // no load balancer to drain: stop at once, so the process exits (and writes its --profile) before the SIGKILL
    SHUTDOWN_DELAY_MS: '0',
    ...variant.env
  }, { readyPath: '/health/ready', openFiles: variant.openFiles, nodeArgs: [...nodeArgs, ...profileArgs(options, variant.name ?? (cacheEnabled ? 'service-cached' : 'service-uncached'))] })
}

/** An OTLP/HTTP endpoint that discards what it gets and counts it (GET /stats). */
export async function startOtlpSink (): Promise<Started> {
  return await startProcess('otlp-sink', OTLP_SINK, { HOST: '127.0.0.1' }, { readyPath: '/health' })
}

export async function startPassthrough (simulator: Started, options: BenchOptions): Promise<Started> {
  return await startProcess('passthrough', PASSTHROUGH, vendorEnv(simulator), { readyPath: '/health', nodeArgs: profileArgs(options, 'passthrough') })
}

/** The typical hand-written Express + axios BFF: validate, sign, post, map; as vendor-facing as the passthrough. */
export async function startExpressBff (simulator: Started, options: BenchOptions): Promise<Started> {
  return await startProcess('express-bff', EXPRESS_BFF, vendorEnv(simulator), { readyPath: '/health', nodeArgs: profileArgs(options, 'express-bff') })
}

/** The floor of the callback-driven events part: bare node:http holding the streams and ending them all in one loop. */
export async function startSseFloor (options: BenchOptions, openFiles: number): Promise<Started> {
  return await startProcess('sse floor', SSE_FLOOR, { HOST: '127.0.0.1' }, { readyPath: '/health', openFiles, nodeArgs: profileArgs(options, 'sse-floor') })
}

/** Baseline (b), the order's bytes from memory; with `headers` (answerHeaders' of the service), the equal-output route that also sends them. */
export async function startConstant (orderId: number, options: BenchOptions, headers?: Array<[string, string]>): Promise<Started> {
  const name = headers === undefined ? 'constant' : 'constant-headers'
  const env = { ...PRODUCTION, ORDER_ID: String(orderId), ...(headers === undefined ? {} : { ANSWER_HEADERS: JSON.stringify(headers) }) }
  return await startProcess(name, CONSTANT, env, { readyPath: '/health', nodeArgs: profileArgs(options, name) })
}

/** What node:http adds to every answer by itself, and the length Fastify works out: not an app's own headers. */
const TRANSPORT_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'])

/** The headers an answer to `path` carries that the app set itself, in the order they came, and its body. */
export async function answerHeaders (started: Started, path: string): Promise<{ headers: Array<[string, string]>, body: string }> {
  const res = await request(started.url + path)
  const body = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`${started.name} answered ${path} with HTTP ${res.statusCode}: ${body.slice(0, 500)}\n${started.output()}`)
  const headers = Object.entries(res.headers).filter(([name]) => !TRANSPORT_HEADERS.has(name)).map(([name, value]): [string, string] => [name, String(value)])
  return { headers, body }
}

export async function setVendorLatency (simulator: Started, latencyMs: number): Promise<void> {
  const res = await fetch(`${simulator.url}/_simulator/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ latencyMs })
  })
  if (!res.ok) throw new Error(`the simulator refused latencyMs=${latencyMs}: HTTP ${res.status}`)
}

/** Checks a contestant answers 200 before any load, so a broken setup never reads as a fast one. */
export async function firstAnswer (started: Started, path: string): Promise<string> {
  return (await answerHeaders(started, path)).body
}
