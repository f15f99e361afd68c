import { setTimeout as sleep } from 'node:timers/promises'
import type { LoadResult } from './load.js'
import type { BenchOptions } from './options.js'
import type { Started } from '../scripts/processes.js'
import { cpuSeconds } from './process-stats.js'
import type { Row } from './report.js'
import { median } from './stats.js'

/** One round against one contestant, with the vendor calls and the server CPU it caused. */
export interface Round extends LoadResult {
  /** vendor calls per second during the round */
  vendorCalls?: number
  /** CPU seconds per second during the round, of the server, the simulator and the load generator */
  serverCpu?: number
  simulatorCpu?: number
  generatorCpu: number
}

export interface Contestant {
  name: string
  process: Started
  /** further processes of the same contestant (more replicas): their CPU counts with the first's, and none may exit */
  replicas?: Started[]
  /** the simulator this contestant talks to, to count its vendor calls */
  simulator?: Started
}

/** Loads `url` (the contestant's first process) for `seconds`; a contestant of several replicas has them all in `contestant.replicas`. */
export type Drive = (url: string, seconds: number, contestant: Contestant) => Promise<LoadResult>

export async function vendorCalls (simulator: Started): Promise<number> {
  const res = await fetch(`${simulator.url}/_simulator/stats`)
  return ((await res.json()) as { calls: number }).calls
}

/**
 * Waits until the simulator's call counter stops moving: requests that the previous round left
 * queued in a server's pool still reach the vendor after the load stops, and must not be counted
 * against the next contestant.
 */
async function quiesce (simulator: Started): Promise<number> {
  let calls = await vendorCalls(simulator)
  for (let tries = 0; tries < 50; tries++) {
    await sleep(200)
    const now = await vendorCalls(simulator)
    if (now === calls) return calls
    calls = now
  }
  return calls
}

/** CPU seconds used so far by all the processes; undefined when any is unknown. */
async function cpuOf (processes: Started[]): Promise<number | undefined> {
  let sum = 0
  for (const { child } of processes) {
    const seconds = await cpuSeconds(child.pid!)
    if (seconds === undefined) return undefined
    sum += seconds
  }
  return sum
}

async function measure (contestant: Contestant, drive: Drive, seconds: number): Promise<Round> {
  const servers = [contestant.process, ...contestant.replicas ?? []]
  const callsBefore = contestant.simulator === undefined ? undefined : await quiesce(contestant.simulator)
  const simulatorPid = contestant.simulator?.child.pid
  const cpuBefore = await cpuOf(servers)
  const simulatorBefore = simulatorPid === undefined ? undefined : await cpuSeconds(simulatorPid)
  const generatorBefore = process.cpuUsage()
  const load = await drive(contestant.process.url, seconds, contestant)
  const generator = process.cpuUsage(generatorBefore)
  const simulatorAfter = simulatorPid === undefined ? undefined : await cpuSeconds(simulatorPid)
  for (const server of servers) {
    const { child } = server
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${contestant.name} exited during the round (${child.exitCode ?? child.signalCode}):\n${server.output()}`)
    }
  }
  const cpuAfter = await cpuOf(servers)
  const callsAfter = contestant.simulator === undefined ? undefined : await vendorCalls(contestant.simulator)
  return {
    ...load,
    vendorCalls: callsBefore === undefined || callsAfter === undefined ? undefined : (callsAfter - callsBefore) / load.seconds,
    serverCpu: cpuBefore === undefined || cpuAfter === undefined ? undefined : (cpuAfter - cpuBefore) / load.seconds,
    simulatorCpu: simulatorBefore === undefined || simulatorAfter === undefined ? undefined : (simulatorAfter - simulatorBefore) / load.seconds,
    generatorCpu: (generator.user + generator.system) / 1e6 / load.seconds
  }
}

/** A warm-up round each (discarded), then A B A B … ; returns each contestant's measured rounds. */
export async function alternate (contestants: Contestant[], options: BenchOptions, drive: Drive): Promise<Round[][]> {
  if (options.warmup > 0) {
    for (const contestant of contestants) await measure(contestant, drive, options.warmup)
  }
  const rounds: Round[][] = contestants.map(() => [])
  for (let round = 0; round < options.rounds; round++) {
    for (const [index, contestant] of contestants.entries()) {
      const result = await measure(contestant, drive, options.duration)
      rounds[index]!.push(result)
      log(`  ${contestant.name} round ${round + 1}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ${result.errors} errors` +
        (result.vendorCalls === undefined ? '' : `, ${result.vendorCalls.toFixed(1)} vendor calls/s`) +
        (result.serverCpu === undefined ? '' : `, server CPU ${perAnswer(result.serverCpu, result.rps)!.toFixed(0)} µs/req`))
    }
  }
  return rounds
}

/** CPU seconds per second → µs per 2xx answer */
function perAnswer (cpu: number | undefined, rps: number): number | undefined {
  return cpu === undefined || rps === 0 ? undefined : (cpu / rps) * 1e6
}

/** Medians across rounds; errors summed. */
export function summarize (scenario: string, contestant: string, rounds: Round[], peakRss?: number): Row {
  return {
    scenario,
    contestant,
    rps: median(rounds.map((r) => r.rps)),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    errors: rounds.reduce((sum, r) => sum + r.errors, 0),
    vendorCallsPerS: rounds.some((r) => r.vendorCalls !== undefined) ? median(rounds.map((r) => r.vendorCalls)) : undefined,
    cpuPerRequest: median(rounds.map((r) => perAnswer(r.serverCpu, r.rps))),
    simulatorCpuPerRequest: median(rounds.map((r) => perAnswer(r.simulatorCpu, r.rps))),
    generatorCpuPerRequest: median(rounds.map((r) => perAnswer(r.generatorCpu, r.rps))),
    peakRss
  }
}

/** Progress goes to stderr; stdout carries only the report. */
export function log (line: string): void {
  process.stderr.write(line + '\n')
}
