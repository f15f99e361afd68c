import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { killAll, stopProcess, type Started } from '../scripts/processes.js'
import { firstAnswer, startService, startSimulator } from './contestants.js'
import { paced } from './load.js'
import { parseOptions } from './options.js'
import { cpuSeconds } from './process-stats.js'
import { TERMINAL_ORDER } from './scenarios.js'
import { median } from './stats.js'

// `npm run build && node dist/bench/pretenuring.js [--rate 15000] [--runs 3]`: the service with and
// without --no-allocation-site-pretenuring, alternating, each in a fresh process (pretenuring
// decisions are made early in a process's life): one first request (the vendor call that fills
// the cache), then cache hits at a steady rate, open loop. Reports the p99, bytes promoted per
// young GC (--trace-gc-nvp), mark-compacts, and server CPU per request. Run it with the Node
// version to judge (`npx -y -p node@24 node dist/bench/pretenuring.js`): children use the same one.

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '15000' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '3' }
  }
})
const rate = Number(values.rate)
const FLAG = '--no-allocation-site-pretenuring'
const VARIANTS = [{ name: 'without the flag', args: [] }, { name: FLAG, args: [FLAG] }]

interface Run {
  p99: number
  promotedKb: number
  scavenges: number
  markCompacts: number
  /** the longest mark-compact pause, ms (0: none) */
  markCompactMs: number
  cpuUsPerRequest: number
}

/** The --trace-gc-nvp lines a process writes, as name → value records. */
function gcEvents (service: Started): Array<Record<string, string>> {
  const events: Array<Record<string, string>> = []
  createInterface({ input: service.child.stdout! }).on('line', (line) => {
    if (!line.includes(' gc=')) return
    events.push(Object.fromEntries(line.split(' ').filter((pair) => pair.includes('=')).map((pair) => pair.split('=') as [string, string])))
  })
  return events
}

async function measure (simulator: Started, args: string[]): Promise<Run> {
  const service = await startService(simulator, parseOptions(['--no-out']), true, [...args, '--trace-gc-nvp'])
  try {
    const events = gcEvents(service)
    await firstAnswer(service, TERMINAL_ORDER)
    await paced(service.url + TERMINAL_ORDER, rate, 50, Number(values.warmup))
    const from = events.length
    const cpuBefore = await cpuSeconds(service.child.pid!)
    const load = await paced(service.url + TERMINAL_ORDER, rate, 50, Number(values.seconds))
    const cpuAfter = await cpuSeconds(service.child.pid!)
    const window = events.slice(from)
    const scavenges = window.filter((event) => event.gc === 's')
    const markCompacts = window.filter((event) => event.gc === 'mc' || event.gc === 'ms')
    return {
      p99: load.p99,
      promotedKb: median(scavenges.map((event) => Number(event.promoted) / 1024)),
      scavenges: scavenges.length,
      markCompacts: markCompacts.length,
      markCompactMs: Math.max(0, ...markCompacts.map((event) => Number(event.pause))),
      cpuUsPerRequest: ((cpuAfter ?? Number.NaN) - (cpuBefore ?? Number.NaN)) / (load.rps * load.seconds) * 1e6
    }
  } finally {
    await stopProcess(service)
  }
}

process.once('exit', killAll)
const simulator = await startSimulator()
const runs: Run[][] = VARIANTS.map(() => [])
try {
  for (let run = 0; run < Number(values.runs); run++) {
    for (const [index, variant] of VARIANTS.entries()) {
      const result = await measure(simulator, variant.args)
      runs[index]!.push(result)
      process.stderr.write(`${variant.name} run ${run + 1}: ${JSON.stringify(result)}\n`)
    }
  }
} finally {
  await stopProcess(simulator)
}
process.stdout.write(`Node ${process.version}, cache hits at ${rate} req/s, ${values.seconds} s measured after ${values.warmup} s\n`)
process.stdout.write('| | p99 ms (each run) | promoted per young GC, KB (median of each run) | young GCs | mark-compacts (longest pause, ms) | server CPU µs per request |\n|---|---|---|---|---|---|\n')
for (const [index, variant] of VARIANTS.entries()) {
  const list = (pick: (run: Run) => number, digits: number): string => runs[index]!.map((run) => pick(run).toFixed(digits)).join(', ')
  process.stdout.write(`| ${variant.name} | ${list((r) => r.p99, 1)} | ${list((r) => r.promotedKb, 0)} | ${list((r) => r.scavenges, 0)} | ${runs[index]!.map((run) => `${run.markCompacts} (${run.markCompactMs.toFixed(1)})`).join(', ')} | ${list((r) => r.cpuUsPerRequest, 1)} |\n`)
}
