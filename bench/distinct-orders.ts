import { Pool } from 'undici'
import { freePort, SERVICE_NODE_FLAGS, stopProcess, type Started } from '../scripts/processes.js'
import { startService } from './contestants.js'
import type { BenchOptions } from './options.js'
import { cpuSeconds, currentRss, watchRss } from './process-stats.js'
import { log } from './rounds.js'
import type { ScenarioResult } from './scenarios.js'

// `--only distinct-orders` (issue 21, item 5): the memory a full cache really takes. 110,000
// distinct terminal orders (the simulator's load machine makes one for any id) through one
// service at its default cache bounds, 50 at a time: the cache fills to CACHE_MAX_ENTRIES or
// CACHE_MAX_BYTES and then evicts the oldest for every new order. Measured: the service's peak
// RSS (VmHWM) over the run and its RSS at the end, against the 150 MB goal.

/** the simulator's load machine: any order id is a terminal order of its own */
const LOAD_MACHINE = '16327200'
const MAX_RSS_MB = 150
const CONNECTIONS = 50

const mb = (bytes: number | undefined): string => bytes === undefined ? '—' : (bytes / 1024 / 1024).toFixed(0)

/** The node flags under comparison: as shipped, and with V8's old generation let grow by 20% per major GC instead of its own dynamic factor. */
export const HEAP_GROWING_FLAG = '--heap-growing-percent=20'

interface Run { label: string, peakRss: number | undefined, startRss: number | undefined, endRss: number | undefined, heapUsed: number, cpuPerAnswerUs: number, ok: number, seconds: number, others: string }

async function runOnce (label: string, nodeArgs: string[], orders: number, options: BenchOptions, simulator: Started): Promise<Run> {
  const metricsPort = await freePort()
  const service = await startService(simulator, options, true, nodeArgs, {
    name: 'service-distinct-orders',
    // the service's own CACHE_* bounds and freshness: only the bench's common settings besides
    env: { CACHE_FRESH_MS: '1000', METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' }
  })
  const pool = new Pool(service.url, { connections: CONNECTIONS, pipelining: 1 })
  try {
    const pid = service.child.pid!
    const startRss = await currentRss(pid)
    const cpuBefore = await cpuSeconds(pid) ?? Number.NaN
    const peak = watchRss(pid)
    let next = 0
    const statuses = new Map<number, number>()
    const started = performance.now()
    const worker = async (): Promise<void> => {
      while (next < orders) {
        const id = 1_000_000 + next++
        const res = await pool.request({ method: 'GET', path: `/orders/${id}?machine=${LOAD_MACHINE}` })
        await res.body.dump()
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      }
    }
    await Promise.all(Array.from({ length: CONNECTIONS }, worker))
    const seconds = (performance.now() - started) / 1000
    const cpu = (await cpuSeconds(pid) ?? Number.NaN) - cpuBefore
    const peakRss = await peak.stop()
    const endRss = await currentRss(pid)
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(async (res) => await res.text(), () => '')
    const heapUsed = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? Number.NaN)
    const ok = statuses.get(200) ?? 0
    const others = [...statuses].filter(([status]) => status !== 200).map(([status, n]) => `${n} × ${status}`).join(', ') || 'no other status'
    return { label, peakRss, startRss, endRss, heapUsed, cpuPerAnswerUs: cpu * 1e6 / Math.max(1, ok), ok, seconds, others }
  } finally {
    await pool.close()
    await stopProcess(service)
  }
}

export async function distinctOrders (options: BenchOptions, simulator: Started): Promise<ScenarioResult> {
  const orders = options.quick ? 5000 : 110_000
  const rounds = options.quick ? 1 : options.rounds
  log(`distinct orders: ${orders} distinct terminal orders, ${CONNECTIONS} at a time, default cache bounds; ${rounds} alternating round(s) of each node flag set`)
  const variants = [
    { label: 'service, shipped node flags', nodeArgs: SERVICE_NODE_FLAGS },
    ...(SERVICE_NODE_FLAGS.includes(HEAP_GROWING_FLAG)
      ? [{ label: `service, without ${HEAP_GROWING_FLAG}`, nodeArgs: SERVICE_NODE_FLAGS.filter((flag) => flag !== HEAP_GROWING_FLAG) }]
      : [{ label: `service, with ${HEAP_GROWING_FLAG}`, nodeArgs: [...SERVICE_NODE_FLAGS, HEAP_GROWING_FLAG] }])
  ]
  const runs: Run[] = []
  for (let round = 0; round < rounds; round++) {
    for (const { label, nodeArgs } of variants) runs.push(await runOnce(label, nodeArgs, orders, options, simulator))
  }
  const shipped = runs.filter((run) => run.label === variants[0]!.label)
  const worstPeak = Math.max(...shipped.map((run) => run.peakRss ?? Number.POSITIVE_INFINITY))
  return {
    rows: [],
    targets: [{
      target: `service peak RSS, ${orders} distinct orders through a full cache (worst of ${shipped.length} run(s), shipped flags)`,
      measured: `${mb(worstPeak)} MB`,
      goal: `≤ ${MAX_RSS_MB} MB`,
      pass: worstPeak / 1024 / 1024 <= MAX_RSS_MB
    }],
    notes: runs.map((run) =>
      `distinct orders, ${run.label}: ${run.ok} of ${orders} answered 200 (${run.others}) in ${run.seconds.toFixed(1)} s, ${run.cpuPerAnswerUs.toFixed(0)} µs of server CPU per answer; ` +
        `RSS ${mb(run.startRss)} MB at the start, peak ${mb(run.peakRss)} MB, ${mb(run.endRss)} MB at the end with ${mb(run.heapUsed)} MB of heap in use.`),
    servicePeakRss: worstPeak
  }
}
