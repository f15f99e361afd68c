import type { BenchOptions } from './options.js'

/** One contestant in one scenario, summarized over its measured rounds (medians; errors summed). */
export interface Row {
  scenario: string
  contestant: string
  rps: number
  p50: number
  p99: number
  errors: number
  /** vendor calls per second while this contestant ran; undefined when it never calls the vendor */
  vendorCallsPerS?: number
  /** CPU time (user + system) per 2xx answer, µs: of the server, of the vendor simulator, of the load generator */
  cpuPerRequest?: number
  simulatorCpuPerRequest?: number
  generatorCpuPerRequest?: number
  /** peak resident set of the server process over the scenario, bytes */
  peakRss?: number
}

export interface TargetResult {
  target: string
  measured: string
  goal: string
  /** undefined: a figure reported without a goal */
  pass?: boolean
}

export interface MachineInfo {
  date: string
  node: string
  cpu: string
  cores: number
  platform: string
}

const fixed = (value: number | undefined, digits: number): string =>
  value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits)

export function rowsTable (rows: Row[]): string {
  const lines = [
    '| scenario | contestant | req/s | p50 ms | p99 ms | errors | vendor calls/s | peak RSS MB |',
    '|---|---|--:|--:|--:|--:|--:|--:|'
  ]
  for (const r of rows) {
    lines.push(`| ${r.scenario} | ${r.contestant} | ${fixed(r.rps, 0)} | ${fixed(r.p50, 2)} | ${fixed(r.p99, 2)} | ${r.errors} | ${fixed(r.vendorCallsPerS, 1)} | ${r.peakRss === undefined ? '—' : fixed(r.peakRss / 1024 / 1024, 0)} |`)
  }
  return lines.join('\n')
}

/** Where the CPU of the machine went, per answer: on two shared cores this is what bounds req/s. */
export function cpuTable (rows: Row[]): string {
  const lines = [
    '| scenario | contestant | server µs/req | vendor simulator µs/req | load generator µs/req |',
    '|---|---|--:|--:|--:|'
  ]
  for (const r of rows) {
    lines.push(`| ${r.scenario} | ${r.contestant} | ${fixed(r.cpuPerRequest, 0)} | ${fixed(r.simulatorCpuPerRequest, 0)} | ${fixed(r.generatorCpuPerRequest, 0)} |`)
  }
  return lines.join('\n')
}

export function targetsTable (targets: TargetResult[]): string {
  const lines = ['| target | measured | goal | result |', '|---|--:|--:|---|']
  for (const t of targets) lines.push(`| ${t.target} | ${t.measured} | ${t.goal} | ${t.pass === undefined ? '—' : t.pass ? 'pass' : '**MISS**'} |`)
  return lines.join('\n')
}

export function command (options: BenchOptions): string {
  const args = options.argv.join(' ')
  const viaNpm = process.env.npm_lifecycle_event === 'bench'
  if (viaNpm) return args === '' ? 'npm run bench' : `npm run bench -- ${args}`
  return `node dist/bench/run.js${args === '' ? '' : ' ' + args}`
}

/** The whole report, as printed and as written to bench/results.md. */
export function renderReport (machine: MachineInfo, options: BenchOptions, rows: Row[], targets: TargetResult[], notes: string[]): string {
  return [
    '# Benchmark results',
    '',
    `- date: ${machine.date}`,
    `- Node ${machine.node} on ${machine.platform}; CPU: ${machine.cpu}, ${machine.cores} cores`,
    `- command: \`${command(options)}\``,
    `- ${options.rounds} measured round(s) of ${options.duration} s per contestant per scenario, alternating, after a discarded ${options.warmup} s warm-up round each; ` +
      `${options.connections} connections (fan-in: ${options.fanInConnections}); medians across rounds, errors summed`,
    '- every process (load generator, servers, vendor simulator) shares the same cores; each contestant ran alone against the same simulator',
    '',
    rowsTable(rows),
    '',
    ...(targets.length === 0 ? [] : [targetsTable(targets), '']),
    'CPU time per 2xx answer (user + system), by process:',
    '',
    cpuTable(rows),
    '',
    ...notes.map((note) => `- ${note}`),
    ''
  ].join('\n')
}
