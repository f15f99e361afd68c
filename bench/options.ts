import { parseArgs } from 'node:util'

export const SCENARIOS = ['uncached', 'cache-hit', 'fan-in', 'two-replica-fan-in', 'redis-cache-hit', 'tracing', 'events', 'slow-readers', 'production', 'vendor-budget', 'distinct-orders'] as const
export type ScenarioName = typeof SCENARIOS[number]

/** the events scenario's parts: streams and pollers against the simulator's phase boundaries, then the callback method on one process and on two replicas */
export const EVENTS_PARTS = ['streams', 'pollers', 'callback', 'replicas', 'floor'] as const
export type EventsPart = typeof EVENTS_PARTS[number]

export interface BenchOptions {
  /** the scenarios to run (default: all) */
  scenarios: Set<ScenarioName>
  /** seconds of load per contestant per round */
  duration: number
  /** measured rounds per contestant per scenario (a warm-up round comes first and is discarded) */
  rounds: number
  warmup: number
  /** concurrent connections of the throughput scenarios (fan-in always uses 200, as the issue says) */
  connections: number
  fanInConnections: number
  /** concurrent SSE streams, and as many polling clients, of the events scenario */
  eventsClients: number
  /** which parts of the events scenario run (--events-parts; default all) */
  eventsParts: Set<EventsPart>
  /** the service's fresh TTL for non-terminal orders; the fan-in target is 1/TTL + 1 vendor calls/s */
  freshMs: number
  quick: boolean
  /** where the results go; null: print only (the default of --quick, so a smoke run never overwrites real numbers) */
  out: string | null
  /** write a V8 CPU profile of every server process into this folder (--cpu-prof) */
  profile: string | null
  /** another build's dist folder (`npm run build` of another commit), an extra contestant of the tracing scenario */
  compareBuild: string | null
  /** the arguments as given, for the report */
  argv: string[]
}

const USAGE = 'usage: npm run bench -- [--only SCENARIOS] [--duration S] [--rounds N] [--warmup S] [--connections N] [--events-clients N] [--events-parts streams,pollers,callback,replicas] [--fresh-ms MS] [--compare-build DIST] [--quick] [--out FILE | --no-out]'

/** Command-line flags → options; unknown flags and bad numbers stop the run with the usage line. */
export function parseOptions (argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      'events-clients': { type: 'string' },
      'events-parts': { type: 'string' },
      'fresh-ms': { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      'no-out': { type: 'boolean', default: false },
      profile: { type: 'string' },
      'compare-build': { type: 'string' },
      only: { type: 'string' },
      help: { type: 'boolean', default: false }
    },
    strict: true
  })
  if (values.help) throw new UsageError('')
  const number = (name: string, raw: string | undefined, fallback: number, min: number): number => {
    if (raw === undefined) return fallback
    const value = Number(raw)
    if (!Number.isFinite(value) || value < min) throw new UsageError(`--${name} must be a number of at least ${min}, got ${raw}`)
    return value
  }
  const quick = values.quick
  const only = values.only?.split(',') ?? [...SCENARIOS]
  const unknown = only.filter((name) => !(SCENARIOS as readonly string[]).includes(name))
  if (unknown.length > 0) throw new UsageError(`--only takes ${SCENARIOS.join(', ')}; not ${unknown.join(', ')}`)
  const parts = values['events-parts']?.split(',') ?? [...EVENTS_PARTS]
  const unknownParts = parts.filter((name) => !(EVENTS_PARTS as readonly string[]).includes(name))
  if (unknownParts.length > 0) throw new UsageError(`--events-parts takes ${EVENTS_PARTS.join(', ')}; not ${unknownParts.join(', ')}`)
  return {
    scenarios: new Set(only as ScenarioName[]),
    eventsParts: new Set(parts as EventsPart[]),
    duration: number('duration', values.duration, quick ? 0.5 : 5, 0.5),
    rounds: Math.round(number('rounds', values.rounds, quick ? 1 : 3, 1)),
    warmup: number('warmup', values.warmup, quick ? 0 : 2, 0),
    connections: Math.round(number('connections', values.connections, 50, 1)),
    fanInConnections: 200,
    eventsClients: Math.round(number('events-clients', values['events-clients'], quick ? 200 : 10_000, 1)),
    freshMs: number('fresh-ms', values['fresh-ms'], 1000, 1),
    quick,
    out: values['no-out'] ? null : values.out ?? (quick ? null : 'bench/results.md'),
    profile: values.profile ?? null,
    compareBuild: values['compare-build'] ?? null,
    argv
  }
}

export class UsageError extends Error {
  constructor (problem: string) {
    super(problem === '' ? USAGE : `${problem}\n${USAGE}`)
    this.name = 'UsageError'
  }
}
