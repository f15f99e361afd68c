import { answerHeaders, firstAnswer, setVendorLatency, startConstant, startExpressBff, startOtlpSink, startPassthrough, startService, type ServiceVariant } from './contestants.js'
import { paced, saturate } from './load.js'
import type { BenchOptions } from './options.js'
import { stopProcess, type Started } from '../scripts/processes.js'
import { watchRss } from './process-stats.js'
import type { Row, TargetResult } from './report.js'
import { alternate, log, summarize, type Round } from './rounds.js'
import { median } from './stats.js'

export interface ScenarioResult {
  rows: Row[]
  targets: TargetResult[]
  notes: string[]
  /** peak RSS of the service process, bytes */
  servicePeakRss?: number
}

const MACHINE = '16327129'
/** the documented example: not terminal, so a caching service keeps it only for the fresh TTL */
export const LIVE_ORDER = `/orders/54?machine=${MACHINE}`
/** SUCCESS with every line final: terminal, so every request after the first is a cache hit */
export const TERMINAL_ORDER_ID = 1001
export const TERMINAL_ORDER = `/orders/${TERMINAL_ORDER_ID}?machine=${MACHINE}`
export const FAN_IN_LATENCY_MS = 100

/** Starts the contestants of one scenario, runs it, and stops them however it ends. */
export async function withProcesses<T, P extends Started = Started> (starts: Array<() => Promise<P>>, body: (started: P[]) => Promise<T>): Promise<T> {
  const started: P[] = []
  try {
    for (const start of starts) started.push(await start())
    return await body(started)
  } finally {
    for (const s of started) await stopProcess(s)
  }
}

export const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`

/** The service (cache on or off) against the bare passthrough, both saturated on the live order; with `expressBff`, also the typical Express + axios BFF; with `compared`, also that build. */
async function serviceVsPassthrough (options: BenchOptions, simulator: Started, label: string, cached: boolean, connections: number, compared: string | null = null, expressBff = false): Promise<{ rowS: Row, rowP: Row, rowE: Row | undefined, rowB: Row | undefined, peak: number | undefined }> {
  return await withProcesses([
    async () => await startService(simulator, options, cached),
    async () => await startPassthrough(simulator, options),
    ...(expressBff ? [async () => await startExpressBff(simulator, options)] : []),
    ...(compared === null ? [] : [async () => await startService(simulator, options, cached, undefined, { name: 'compared-build', build: compared })])
  ], async ([service, passthrough, ...others]) => {
    const express = expressBff ? others.shift() : undefined
    const comparedService = others.shift()
    const served = await firstAnswer(service!, LIVE_ORDER)
    for (const started of [passthrough!, ...(comparedService === undefined ? [] : [comparedService])]) await firstAnswer(started, LIVE_ORDER)
    if (express !== undefined) {
      // the same work as the service's, or the comparison says nothing: the same JSON for the same order
      const mapped = await firstAnswer(express, LIVE_ORDER)
      if (JSON.stringify(JSON.parse(mapped)) !== JSON.stringify(JSON.parse(served))) throw new Error(`the Express BFF does not answer the service's JSON:\n${served}\n${mapped}`)
    }
    const rss = watchRss(service!.child.pid!)
    const rounds = await alternate([
      { name: 'service', process: service!, simulator },
      { name: 'passthrough', process: passthrough!, simulator },
      ...(express === undefined ? [] : [{ name: 'express-bff', process: express, simulator }]),
      ...(comparedService === undefined ? [] : [{ name: 'compared-build', process: comparedService, simulator }])
    ], options, async (url, seconds) => await saturate(url + LIVE_ORDER, connections, seconds))
    const peak = await rss.stop()
    const [s, p] = rounds
    const e = express === undefined ? undefined : rounds[2]
    const b = comparedService === undefined ? undefined : rounds[rounds.length - 1]
    const serviceLabel = cached ? 'service (cache on)' : 'service (CACHE_ENABLED=false)'
    return {
      rowS: summarize(label, serviceLabel, s!, peak),
      rowP: summarize(label, 'baseline (a) bare passthrough', p!),
      rowE: e === undefined ? undefined : summarize(label, 'baseline (c) typical Express + axios BFF', e),
      rowB: b === undefined ? undefined : summarize(label, `${serviceLabel}, the compared build`, b),
      peak
    }
  })
}

/** Issue "The fleet configuration at in-memory speed": a miss at least 0.75× the bare passthrough and 3× the typical BFF. */
const MISS_VS_PASSTHROUGH = 0.75
const MISS_VS_EXPRESS = 3

/** Every request reaches the vendor: the service's own work against a hand-written proxy and a typical hand-written BFF. */
export async function uncached (options: BenchOptions, simulator: Started): Promise<ScenarioResult> {
  log(`uncached: service with CACHE_ENABLED=false vs bare passthrough vs Express + axios BFF, order 54${options.compareBuild === null ? '' : ` vs the build in ${options.compareBuild}`}`)
  const { rowS, rowP, rowE, rowB, peak } = await serviceVsPassthrough(options, simulator, 'uncached', false, options.connections, options.compareBuild, true)
  const cpu = (row: Row): number => row.cpuPerRequest ?? Number.NaN
  const notes = [
    `uncached: server CPU per answer, service ÷ bare passthrough ${ratio(cpu(rowS), cpu(rowP))}, service ÷ Express + axios BFF ${ratio(cpu(rowS), cpu(rowE!))}.`,
    ...(rowB === undefined
      ? []
      : [`uncached: the compared build (${options.compareBuild}) ÷ bare passthrough ${ratio(rowB.rps, rowP.rps)}, this build ${ratio(rowS.rps, rowP.rps)}; ` +
          `server CPU per answer, this ÷ compared: ${ratio(cpu(rowS), cpu(rowB))}.`])
  ]
  return {
    rows: [rowS, rowP, rowE!, ...(rowB === undefined ? [] : [rowB])],
    targets: [
      { target: 'uncached throughput ÷ bare passthrough', measured: ratio(rowS.rps, rowP.rps), goal: `≥ ${MISS_VS_PASSTHROUGH.toFixed(2)}×`, pass: rowS.rps >= MISS_VS_PASSTHROUGH * rowP.rps },
      { target: 'uncached throughput ÷ Express + axios BFF', measured: ratio(rowS.rps, rowE!.rps), goal: `≥ ${MISS_VS_EXPRESS.toFixed(2)}×`, pass: rowS.rps >= MISS_VS_EXPRESS * rowE!.rps }
    ],
    notes,
    servicePeakRss: peak
  }
}

/**
 * A terminal order, polled at full speed, then at half that speed for the latency target. The
 * goal is against the equal-output constant route: the service's bytes and its 16 headers (the
 * security, CORS, rate-limit and cache headers, the ETag and a fresh request id) sent from
 * memory. The body-only constant route is a second, informative contestant: what those headers
 * cost any Fastify route.
 */
export async function cacheHit (options: BenchOptions, simulator: Started): Promise<ScenarioResult> {
  log(`cache hit: service with its cache vs the constant route with the service's headers, and without, order ${TERMINAL_ORDER_ID} (terminal)`)
  return await withProcesses([
    async () => await startService(simulator, options, true),
    async () => await startConstant(TERMINAL_ORDER_ID, options)
  ], async ([service, bodyOnly]) => {
    const served = await answerHeaders(service!, TERMINAL_ORDER)
    return await withProcesses([async () => await startConstant(TERMINAL_ORDER_ID, options, served.headers)], async ([constant]) => {
      const ceiling = await answerHeaders(constant!, TERMINAL_ORDER)
      if (served.body !== ceiling.body || served.body !== await firstAnswer(bodyOnly!, TERMINAL_ORDER)) throw new Error(`the constant routes do not serve the service's bytes:\n${served.body}\n${ceiling.body}`)
      const names = (answer: typeof served): string => answer.headers.map(([name]) => name).join(', ')
      if (names(served) !== names(ceiling)) throw new Error(`the constant route does not send the service's headers:\n${names(served)}\n${names(ceiling)}`)
      const rss = watchRss(service!.child.pid!)
      const contestants = [
        { name: 'service', process: service!, simulator },
        { name: 'constant', process: constant! },
        { name: 'constant, body only', process: bodyOnly! }
      ]
      const [s, c, b] = await alternate(contestants, options, async (url, seconds) => await saturate(url + TERMINAL_ORDER, options.connections, seconds))
      const rowS = summarize('cache hit', 'service (cache on)', s!)
      const rowC = summarize('cache hit', `baseline (b) constant in memory, the service's ${served.headers.length} headers`, c!)
      const rowB = summarize('cache hit', 'baseline (b) constant in memory, body only', b!)
      const notes: string[] = []
      if (rowS.vendorCallsPerS !== undefined && rowS.vendorCallsPerS > 0.5 * rowS.rps) {
        notes.push(`cache hit: the service called the vendor for ${((rowS.vendorCallsPerS / rowS.rps) * 100).toFixed(0)}% of its requests, so this build has no response cache and its "cache hit" rows are uncached numbers.`)
      }
      notes.push(`cache hit: the equal-output constant route sends the service's own ${served.headers.length} headers (${names(served)}), checked against the service's answer before the run; the body-only one sends content-type alone.`)

      // the same steady rate for both: half of what the service itself sustained
      const rate = Math.max(1, Math.round(rowS.rps / 2))
      log(`cache hit at a steady ${rate} req/s (half the service's maximum)`)
      const [sp, cp] = await alternate(contestants.slice(0, 2), options, async (url, seconds) => await paced(url + TERMINAL_ORDER, rate, options.connections, seconds))
      const peak = await rss.stop()
      const label = `cache hit at ${rate} req/s`
      const rowSp = summarize(label, 'service (cache on)', sp!, peak)
      const rowCp = summarize(label, rowC.contestant, cp!)
      const lag = median([...sp!, ...cp!].map((r) => r.lagP99))
      notes.push(`At ${rate} req/s the load generator sent 99% of its requests within ${lag.toFixed(2)} ms of schedule, and latencies count from when each was sent. ` +
        `The constant route's p99 at the same rate, ${rowCp.p99.toFixed(2)} ms, is what the machine and the generator add to anyone's: p99s move with other load on the machine.`)
      return {
        rows: [rowS, rowC, rowB, rowSp, rowCp],
        targets: [
          { target: 'cache-hit throughput ÷ equal-output constant route', measured: ratio(rowS.rps, rowC.rps), goal: '≥ 0.95×', pass: rowS.rps >= 0.95 * rowC.rps },
          { target: `cache-hit p99 at half the maximum (${rate} req/s)`, measured: `${rowSp.p99.toFixed(2)} ms`, goal: '< 5 ms', pass: rowSp.p99 < 5 }
        ],
        notes,
        servicePeakRss: peak
      }
    })
  })
}

/** Many clients polling one live order through a slow vendor: how many calls reach the vendor. */
export async function fanIn (options: BenchOptions, simulator: Started): Promise<ScenarioResult> {
  log(`fan-in: ${options.fanInConnections} connections polling order 54, vendor latency ${FAN_IN_LATENCY_MS} ms`)
  await setVendorLatency(simulator, FAN_IN_LATENCY_MS)
  try {
    const { rowS, rowP, peak } = await serviceVsPassthrough(options, simulator, `fan-in, ${FAN_IN_LATENCY_MS} ms vendor`, true, options.fanInConnections)
    const limit = 1000 / options.freshMs + 1
    const calls = rowS.vendorCallsPerS ?? Number.NaN
    return {
      rows: [rowS, rowP],
      targets: [{
        target: `fan-in vendor calls/s while serving ${rowS.rps.toFixed(0)} req/s`,
        measured: `${calls.toFixed(1)} (${(calls / rowS.rps).toPrecision(2)} per client request)`,
        goal: `≤ ${limit.toFixed(1)} (1/TTL + 1)`,
        pass: calls <= limit
      }],
      notes: [],
      servicePeakRss: peak
    }
  } finally {
    await setVendorLatency(simulator, 0)
  }
}

interface SinkStats { posts: number, bytes: number, lookups: number }

async function sinkStats (sink: Started): Promise<SinkStats> {
  return (await (await fetch(`${sink.url}/stats`)).json()) as SinkStats
}

/** 2xx answers over a contestant's measured rounds */
const answered = (rounds: Round[]): number => rounds.reduce((sum, r) => sum + r.rps * r.seconds, 0)
const range = (rounds: Round[]): string => `${Math.min(...rounds.map((r) => r.rps)).toFixed(0)}–${Math.max(...rounds.map((r) => r.rps)).toFixed(0)}`

/**
 * What tracing costs on the cheapest path, a cache hit: the service with tracing off, on with every
 * request sampled (the SDK's default) and on at 1%, each traced one exporting OTLP/HTTP protobuf to a
 * sink of its own that discards it; with --compare-build, also another build (the commit before
 * tracing) against tracing off, to show what the off switch itself costs.
 */
export async function tracingCost (options: BenchOptions, simulator: Started): Promise<ScenarioResult> {
  // a smoke run (--quick) only checks that tracing on runs and exports: off and on, one sink
  const sampling = !options.quick
  log(`tracing: cache hit, order ${TERMINAL_ORDER_ID}, tracing off vs on (every request${sampling ? '; 1%' : ''})${options.compareBuild === null ? '' : ` vs the build in ${options.compareBuild}`}`)
  const sinks = sampling ? [await startOtlpSink(), await startOtlpSink()] : [await startOtlpSink()]
  try {
    const otel = (sink: Started): Record<string, string> => ({ OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_SERVICE_NAME: 'vending-orders-bff-bench' })
    const variants: Array<{ label: string, variant: ServiceVariant }> = [
      { label: 'service, tracing off', variant: { name: 'tracing-off' } },
      { label: 'service, tracing on, every request', variant: { name: 'tracing-on', env: otel(sinks[0]!) } },
      ...(sampling ? [{ label: 'service, tracing on, 1% sampled', variant: { name: 'tracing-sampled', env: { ...otel(sinks[1]!), OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' } } }] : []),
      ...(options.compareBuild === null ? [] : [{ label: 'the compared build (no tracing code)', variant: { name: 'compared-build', build: options.compareBuild } }])
    ]
    return await withProcesses(variants.map(({ variant }) => async () => await startService(simulator, options, true, undefined, variant)), async (services) => {
      for (const service of services) await firstAnswer(service, TERMINAL_ORDER)
      const contestants = services.map((process, index) => ({ name: variants[index]!.variant.name!, process, simulator }))
      const rounds = await alternate(contestants, options, async (url, seconds) => await saturate(url + TERMINAL_ORDER, options.connections, seconds))
      // the services still hold their last batch: stopped, they export it
      for (const service of services.slice(1, 1 + sinks.length)) await stopProcess(service)
      const exported = await Promise.all(sinks.map(sinkStats))
      if (exported[0]!.lookups === 0) throw new Error('tracing on exported no span to its sink: the scenario would measure nothing')

      const rows = rounds.map((r, index) => summarize('tracing, cache hit', variants[index]!.label, r))
      const [off, on] = rows
      const sampled = sampling ? rows[2] : undefined
      const compared = options.compareBuild === null ? undefined : rows[rows.length - 1]
      const comparedRounds = rounds[rounds.length - 1]!
      // row ÷ base, by measure
      const against = (row: Row, base: Row): string => `req/s ${ratio(row.rps, base.rps)}, server CPU per answer ${ratio(row.cpuPerRequest ?? Number.NaN, base.cpuPerRequest ?? Number.NaN)}, ` +
        `p50 ${ratio(row.p50, base.p50)}, p99 ${ratio(row.p99, base.p99)}`
      const cost = (row: Row): string => against(row, off!)
      const notes = [
        `Tracing on, against tracing off in the same run: every request traced ${cost(on!)}${sampled === undefined ? '' : `; 1% sampled ${cost(sampled)}`}. ` +
          `Rounds of tracing off ranged ${range(rounds[0]!)} req/s, which is this machine's noise.`,
        `The sink of tracing on (every request) received the spans of ${exported[0]!.lookups} requests (${exported[0]!.posts} exports, ${(exported[0]!.bytes / 1e6).toFixed(1)} MB) ` +
          `for ${answered(rounds[1]!).toFixed(0)} answers in the measured rounds plus those of the warm-up` +
          (sampled === undefined ? '' : `; that of 1% sampled, ${exported[1]!.lookups} for ${answered(rounds[2]!).toFixed(0)}`) +
          ' (the SDK drops spans rather than slow the service when its batch queue, OTEL_BSP_MAX_QUEUE_SIZE spans, is full).'
      ]
      // no target here: across processes on a shared machine the noise is larger than any cost of the off switch;
      // bench/compare-build.ts measures that in one process
      if (compared !== undefined) {
        notes.push(`Tracing off ÷ the compared build (${options.compareBuild}), same run: ${against(off!, compared)}; ` +
          `the compared build's rounds ranged ${range(comparedRounds)} req/s, tracing off's ${range(rounds[0]!)}.`)
      }
      return { rows, targets: [], notes }
    })
  } finally {
    for (const sink of sinks) await stopProcess(sink)
  }
}
