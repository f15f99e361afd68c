import { writeFile } from 'node:fs/promises'
import { cpus, platform, release } from 'node:os'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { clusterScenarios } from './cluster.js'
import { startSimulator } from './contestants.js'
import { distinctOrders } from './distinct-orders.js'
import { eventsScenario } from './events.js'
import { slowReaders } from './slow-readers.js'
import { vendorBudget } from './vendor-budget.js'
import { parseOptions, UsageError } from './options.js'
import { killAll, stopProcess } from '../scripts/processes.js'
import { renderReport, type MachineInfo } from './report.js'
import { log } from './rounds.js'
import { cacheHit, fanIn, tracingCost, uncached, type ScenarioResult } from './scenarios.js'

// `npm run bench`: the service against two hand-written baselines, one scenario at a time, in
// alternating rounds so that drift (other load on the machine, heat) hits every contestant alike.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const DEFAULT_OUT = 'bench/results.md'
const MAX_RSS_MB = 150

async function main (): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  const machine: MachineInfo = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    platform: `${platform()} ${release()}`
  }
  const results: ScenarioResult[] = []
  const simulator = await startSimulator()
  try {
    if (options.scenarios.has('uncached')) results.push(await uncached(options, simulator))
    if (options.scenarios.has('cache-hit')) results.push(await cacheHit(options, simulator))
    if (options.scenarios.has('fan-in')) results.push(await fanIn(options, simulator))
    results.push(...await clusterScenarios(options, simulator))
    if (options.scenarios.has('tracing')) results.push(await tracingCost(options, simulator))
    if (options.scenarios.has('events')) results.push(await eventsScenario(options, simulator))
    if (options.scenarios.has('slow-readers')) results.push(await slowReaders(options))
    if (options.scenarios.has('vendor-budget')) results.push(await vendorBudget(options))
    if (options.scenarios.has('distinct-orders')) results.push(await distinctOrders(options, simulator))
  } finally {
    await stopProcess(simulator)
  }

  const targets = results.flatMap((r) => r.targets)
  const peaks = results.flatMap((r) => r.servicePeakRss === undefined ? [] : [r.servicePeakRss])
  if (peaks.length > 0) {
    const peakMb = Math.max(...peaks) / 1024 / 1024
    targets.push({ target: 'service peak RSS at saturation (highest of the scenarios)', measured: `${peakMb.toFixed(0)} MB`, goal: `< ${MAX_RSS_MB} MB`, pass: peakMb < MAX_RSS_MB })
  }
  const notes = [
    ...results.flatMap((r) => r.notes),
    'req/s counts 2xx answers only; errors are non-2xx answers plus socket errors and timeouts. Latencies are of 2xx answers.',
    'Throughput rounds are closed-loop autocannon runs; the steady-rate rounds are open-loop (requests sent on a 1 ms schedule whatever the server does, queueing in the generator\'s pool when it is slow).',
    'The bare passthrough signs every request with a fresh timestamp, as the vendor requires and the service does, and uses the same undici pool settings as the service (32 connections).',
    'Peak RSS is the kernel\'s high-water mark (VmHWM) of each service process over its whole scenario.'
  ]
  const report = renderReport(machine, options, results.flatMap((r) => r.rows), targets, notes)
  process.stdout.write(report)
  if (options.out !== null) {
    const out = options.out === DEFAULT_OUT ? resolve(ROOT, DEFAULT_OUT) : resolve(options.out)
    await writeFile(out, report)
    log(`written to ${out}`)
  }
}

// children never outlive the driver, however it ends
process.once('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll()
    process.exit(signal === 'SIGINT' ? 130 : 143)
  })
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof UsageError ? error.message : (error as Error).stack ?? String(error)}\n`)
  killAll()
  process.exit(error instanceof UsageError ? 2 : 1)
})
