import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { once } from 'node:events'
import { Agent, request, type IncomingMessage } from 'node:http'
import { writeFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { DISPENSING_AFTER_MS, FINISHED_AFTER_MS, PAID_AFTER_MS } from '../src/simulator/scenarios.js'
import { BENCH_SIGNING_KEY, profileArgs, startService, startSseFloor } from './contestants.js'
import type { BenchOptions } from './options.js'
import { cpuSeconds, watchRss } from './process-stats.js'
import { freePort, killedWithParent, stopProcess, type Started } from '../scripts/processes.js'
import { redisServerInstalled, REDIS_SERVER, startRedisServer } from '../scripts/redis-server.js'
import type { Row, TargetResult } from './report.js'
import { log } from './rounds.js'
import type { ScenarioResult } from './scenarios.js'
import { percentile, sortedSamples } from './stats.js'

// `--only events` (issue 13, item 10): N Server-Sent-Event streams on one clock order of the
// simulator, on one service process, against N clients polling GET /orders/:id every second
// (the baseline, same run, a fresh service process each, so each peak RSS is its own). The
// clients run in a child process of their own (this file, run directly), so the service's
// figures are not the load generator's.
//
// A clock order starts its run when first asked: the client process asks once through the
// service (the service asks the simulator, whose run starts then) and records the time as the
// run's start; the phase boundaries are the simulator's constants from there. Each client
// records when it first saw each state. Per change: the delay from the boundary to each client
// that was already watching (p50, p99, the last), and the spread from the first client to see
// it to each other one.

const MACHINE = '16327129'
/** streams watch 2001 (ends IS_SUCCESS), pollers 2002 (ends IS_FAILED): each run starts fresh when its part first asks */
const STREAM_ORDER = 2001
const POLL_ORDER = 2002
/** the callback method's order (ends IS_TIMEOUT), a run of its own */
const CALLBACK_ORDER = 2003
const POLL_INTERVAL_MS = 1000
/** how many connections the client process opens at once before their first answer */
const OPEN_WINDOW = 200

/** the phase boundaries of a clock order, ms into its run, and the state each one starts */
const CHANGES = [
  { name: 'paid', atMs: PAID_AFTER_MS },
  { name: 'dispensing', atMs: DISPENSING_AFTER_MS },
  { name: 'final', atMs: FINISHED_AFTER_MS }
] as const

type Mode = 'sse' | 'poll'

interface ClientJob {
  mode: Mode
  url: string
  path: string
  count: number
  /** stop this long after the run's start even if some client has not seen everything */
  untilMs: number
  /** in --quick: stop once every client has seen this many changes */
  changes: number
  /** the streams' services, client i on urls[i % urls.length] (default: [url]) */
  urls?: string[]
  /** the callback method: post the vendor's delivery notification to url + path this long after the first ask was answered */
  callback?: { path: string, afterMs: number }
}

/** What the client process reports: times are epoch ms with sub-ms precision */
interface ClientReport {
  /** when the first ask (the one that starts the clock order's run) was sent, and when it was answered */
  firstAskSent: number
  firstAskAnswered: number
  /** when all clients were connected (first answer or event received), or the last one if some never were */
  allOpenAt: number
  opened: number
  errors: number
  /** requests answered (pollers) or events received (streams) */
  answers: number
  endedAt: number
  /** per client: when it first got an answer or event, then when it first saw each state, by state key */
  clients: Array<{ openedAt: number | null, seen: Record<string, number> }>
  /** state keys in the order the order went through them */
  states: string[]
  errorSamples: string[]
  /** CPU seconds (user + system) of the client process: by the time all were open, and in all */
  cpuWhenOpen: number
  cpu: number
  /** when the streams began opening (after the first ask) */
  openStartedAt: number
  /** the callback method: when the notification was sent, and answered */
  callbackSentAt?: number
  callbackAnswered?: number
}

const now = (): number => performance.timeOrigin + performance.now()

/** NOTPAY/-,- → SUCCESS/WAITING_PICKED_UP,… : what a client can tell the states apart by */
function stateKey (body: string): string {
  const order = JSON.parse(body) as { status: string, items: Array<{ status: string | null }> }
  return `${order.status}/${order.items.map((item) => item.status ?? '-').join(',')}`
}

/** The client process: opens the streams or runs the pollers, then prints one JSON report line. */
async function runClients (job: ClientJob): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: job.count + 16 })
  const target = new URL(job.url)
  const targets = (job.urls ?? [job.url]).map((url) => new URL(url))
  const clients: ClientReport['clients'] = Array.from({ length: job.count }, () => ({ openedAt: null, seen: {} }))
  const states: string[] = []
  const errorSamples: string[] = []
  let errors = 0
  let answers = 0
  const fail = (what: string): void => {
    errors++
    if (errorSamples.length < 5) errorSamples.push(what)
  }
  const see = (index: number, key: string, at: number): void => {
    const client = clients[index]!
    client.openedAt ??= at
    if (client.seen[key] === undefined) client.seen[key] = at
    if (!states.includes(key)) states.push(key)
  }

  const get = async (path: string, accept: string, through = agent): Promise<IncomingMessage> => await new Promise((resolve, reject) => {
    const req = request({ host: target.hostname, port: target.port, path, agent: through, headers: { accept } }, resolve)
    req.on('error', reject)
    req.end()
  })
  const readBody = async (res: IncomingMessage): Promise<string> => {
    res.setEncoding('utf8')
    let body = ''
    for await (const chunk of res) body += chunk as string
    return body
  }

  // a few asks for another order first, so the one that starts the run is not the service's
  // cold start: its round trip bounds the error of every delay measured from it
  for (let warm = 0; warm < 20; warm++) await readBody(await get(`/orders/1001?machine=${MACHINE}`, 'application/json'))
  // the first ask starts the clock order's run at the simulator
  const firstAskSent = now()
  const first = await get(job.path, 'application/json')
  const firstBody = await readBody(first)
  const firstAskAnswered = now()
  if (first.statusCode !== 200) throw new Error(`the first ask answered HTTP ${first.statusCode}: ${firstBody.slice(0, 300)}`)
  states.push(stateKey(firstBody))
  const start = firstAskSent
  const deadline = start + job.untilMs
  const doneWith = (index: number): boolean => Object.keys(clients[index]!.seen).length > job.changes

  let allOpenAt = 0
  const cpuNow = (): number => { const { user, system } = process.cpuUsage(); return (user + system) / 1e6 }
  let cpuWhenOpen = 0
  let opened = 0
  let pending = job.count
  let finished!: () => void
  const allFinished = new Promise<void>((resolve) => { finished = resolve })
  const finish = (): void => { if (--pending === 0) finished() }
  let openSlot: (() => void) | undefined
  let opening = 0
  const markOpen = (): void => {
    opened++
    opening--
    if (opened === job.count) { allOpenAt = now(); cpuWhenOpen = cpuNow() }
    openSlot?.()
  }

  const stream = (index: number): void => {
    let first = true
    let ended = false
    const opened = (): void => { if (first) { first = false; markOpen() } }
    const end = (): void => {
      opened()
      if (!ended) { ended = true; finish() }
    }
    const to = targets[index % targets.length]!
    const req = request({ host: to.hostname, port: to.port, path: job.path.replace('?', '/events?'), agent, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        fail(`stream ${index}: HTTP ${res.statusCode}`)
        res.resume()
        end()
        return
      }
      res.setEncoding('utf8')
      let buffer = ''
      res.on('data', (chunk: string) => {
        const at = now()
        buffer += chunk
        let cut: number
        while ((cut = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, cut)
          buffer = buffer.slice(cut + 2)
          let event = 'message'
          let data = ''
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim()
            else if (line.startsWith('data:')) data += line.slice(5).trimStart()
          }
          if (data === '') continue
          answers++
          if (event !== 'order') {
            fail(`stream ${index}: ${event} ${data.slice(0, 200)}`)
            continue
          }
          see(index, stateKey(data), at)
          opened()
          // done: the connection is left to the server's end of the stream and to agent.destroy()
          // after the run, since closing 10,000 sockets here would be the client's own work in the
          // middle of the delays it measures (a close, and the agent's O(n) removeSocket, each)
          if (doneWith(index)) end()
        }
      })
      res.on('end', end)
      res.on('error', end)
    })
    req.on('error', (error) => {
      if (first) fail(`stream ${index}: ${error.message}`)
      end()
    })
    req.end()
  }

  const poll = (index: number): void => {
    // each poller has its own phase within the second, as phones do
    const offset = (index / job.count) * POLL_INTERVAL_MS
    let slot = 0
    let first = true
    // a connection of its own, kept alive between polls, as each phone has
    const own = new Agent({ keepAlive: true, maxSockets: 1 })
    const tick = async (): Promise<void> => {
      try {
        const res = await get(job.path, 'application/json', own)
        const body = await readBody(res)
        const at = now()
        if (res.statusCode !== 200) fail(`poller ${index}: HTTP ${res.statusCode}`)
        else {
          answers++
          see(index, stateKey(body), at)
        }
      } catch (error) {
        fail(`poller ${index}: ${(error as Error).message}`)
      }
      if (first) { first = false; markOpen() }
      if (doneWith(index) || now() >= deadline) {
        own.destroy()
        finish()
        return
      }
      // the next whole second of this poller's schedule (a late answer skips the slots it missed)
      const base = start + offset
      slot = Math.max(slot + 1, Math.ceil((now() - base) / POLL_INTERVAL_MS))
      setTimeout(() => { tick().catch(() => {}) }, Math.max(0, base + slot * POLL_INTERVAL_MS - now()))
    }
    tick().catch(() => {})
  }

  // the callback method: the vendor's change is at a known time of its run (which began before the first ask was answered); the notification follows it
  let callbackSentAt: number | undefined
  let callbackAnswered: number | undefined
  let callbackTimer: NodeJS.Timeout | undefined
  if (job.callback !== undefined) {
    const { path, afterMs } = job.callback
    const callbackAgent = new Agent({ keepAlive: false })
    callbackTimer = setTimeout(() => {
      const req = request({ host: target.hostname, port: target.port, path, method: 'POST', agent: callbackAgent, headers: { 'content-type': 'application/json' } }, (res) => {
        callbackAnswered = now()
        if (res.statusCode !== 204) fail(`callback: HTTP ${res.statusCode}`)
        res.resume()
      })
      req.on('error', (error) => { fail(`callback: ${error.message}`) })
      callbackSentAt = now()
      req.end(JSON.stringify({ method: 'device.delivery.response', order_id: Number(/\/orders\/(\d+)/.exec(job.path)![1]), deliver_status: '1' }))
    }, Math.max(0, firstAskAnswered + afterMs - now()))
  }

  // open OPEN_WINDOW at a time, as fast as the service accepts them
  const openStartedAt = now()
  for (let index = 0; index < job.count; index++) {
    // markOpen frees a slot of the window
    if (opening >= OPEN_WINDOW) await new Promise<void>((resolve) => { openSlot = resolve })
    openSlot = undefined
    opening++
    if (job.mode === 'sse') stream(index)
    else poll(index)
  }
  if (allOpenAt === 0 && opened === job.count) allOpenAt = now()
  const timeout = setTimeout(finished, Math.max(0, deadline - now()))
  await allFinished
  clearTimeout(timeout)
  clearTimeout(callbackTimer)
  const endedAt = now()
  agent.destroy()
  const report: ClientReport = { firstAskSent, firstAskAnswered, allOpenAt: allOpenAt === 0 ? endedAt : allOpenAt, opened, errors, answers, endedAt, clients, states, errorSamples, cpuWhenOpen: cpuWhenOpen === 0 ? cpuNow() : cpuWhenOpen, cpu: cpuNow(), openStartedAt, callbackSentAt, callbackAnswered }
  // a file, not stdout: the report of 10,000 clients is megabytes
  writeFileSync(process.env.EVENTS_CLIENT_REPORT!, JSON.stringify(report))
}

/** `ulimit -Hn` of this machine: how many sockets one process may hold at most */
export function hardOpenFiles (): number {
  try {
    const out = execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim()
    return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out)
  } catch {
    return 1024
  }
}

/** Runs the client process with `ulimit -n` raised and waits for its report. */
async function clientProcess (job: ClientJob, openFiles: number, nodeArgs: string[] = []): Promise<ClientReport> {
  const script = fileURLToPath(import.meta.url)
  const dir = await mkdtemp(join(tmpdir(), 'bench-events-'))
  const reportFile = join(dir, 'report.json')
  const child = spawn('bash', ['-c', `ulimit -n ${openFiles} && exec "$@"`, 'bash', process.execPath, ...nodeArgs, script], {
    env: { PATH: process.env.PATH ?? '', EVENTS_CLIENT_JOB: JSON.stringify(job), EVENTS_CLIENT_REPORT: reportFile },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  killedWithParent(child)
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  const [code] = await once(child, 'exit')
  try {
    if (code !== 0) throw new Error(`the events client process failed (exit ${String(code)}):\n${stderr}`)
    return JSON.parse(await readFile(reportFile, 'utf8')) as ClientReport
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

interface Part {
  label: string
  row: Row
  targets: TargetResult[]
  notes: string[]
  /** delays from each change's boundary to the p50/p99/last client, for the docs */
  vendorCallsPerS: number
  /** every row of the part (row is the first) */
  rows?: Row[]
}

/** the simulator's calls for one order so far */
async function orderCalls (simulator: Started, orderId: number): Promise<number> {
  const res = await fetch(`${simulator.url}/_simulator/stats`)
  return ((await res.json()) as { byOrder: Record<string, number> }).byOrder[String(orderId)] ?? 0
}

/** CPU share of the service between two times, from its samples */
function serviceWhileOpening (samples: Array<{ at: number, cpu: number }>, from: number, to: number): string {
  const inside = samples.filter((s) => s.at >= from && s.at <= to)
  if (inside.length < 2) return '—'
  const first = inside[0]!
  const last = inside[inside.length - 1]!
  return `${(((last.cpu - first.cpu) / ((last.at - first.at) / 1000)) * 100).toFixed(0)}% of a core`
}

const ms = (value: number): string => Number.isFinite(value) ? `${value.toFixed(0)} ms` : '—'

/** One side: a fresh service, the clients in their own process, the figures. */
async function measurePart (mode: Mode, simulator: Started, options: BenchOptions, count: number, openFiles: number): Promise<Part> {
  const orderId = mode === 'sse' ? STREAM_ORDER : POLL_ORDER
  const label = mode === 'sse' ? `${count} SSE streams` : `${count} clients polling every 1 s`
  const changes = options.quick ? 1 : CHANGES.length
  const service = await startService(simulator, options, true, undefined, {
    name: `service (${mode})`,
    openFiles,
    env: {
      EVENTS_MAX_STREAMS: String(count),
      EVENTS_MAX_PER_CLIENT: String(Math.min(count, 10_000)),
      MAX_CONNECTIONS: String(count + 100),
      // a connection storm of 10,000 must not be shed for its event-loop delay: capacity is what is measured
      MAX_EVENT_LOOP_DELAY_MS: '0'
    }
  })
  try {
    const rss = watchRss(service.child.pid!)
    const callsBefore = await orderCalls(simulator, orderId)
    const cpuBefore = await cpuSeconds(service.child.pid!)
    // the service's CPU over time, to tell what it used while the clients were opening
    const samples: Array<{ at: number, cpu: number }> = []
    const sampler = setInterval(() => {
      cpuSeconds(service.child.pid!).then((cpu) => { if (cpu !== undefined) samples.push({ at: Date.now(), cpu }) }, () => {})
    }, 250)
    log(`events: ${label} on order ${orderId}`)
    const report = await clientProcess({
      mode,
      url: service.url,
      path: `/orders/${orderId}?machine=${MACHINE}`,
      count,
      untilMs: CHANGES[changes - 1]!.atMs + 10_000,
      changes
    }, openFiles, profileArgs(options, `events-client-${mode}`))
    clearInterval(sampler)
    const callsAfter = await orderCalls(simulator, orderId)
    const cpuAfter = await cpuSeconds(service.child.pid!)
    const peak = await rss.stop()
    if (service.child.exitCode !== null || service.child.signalCode !== null) throw new Error(`the service exited during the events run:\n${service.output()}`)
    const seconds = (report.endedAt - report.firstAskSent) / 1000
    const callsPerS = (callsAfter - callsBefore) / seconds
    const start = report.firstAskSent
    const openS = (report.allOpenAt - start) / 1000

    // per change: the clients that were watching before it, their delay from the boundary and their spread
    const notes: string[] = []
    const allDelays: number[] = []
    let missed = 0
    const perChange: string[] = []
    for (const [index, change] of CHANGES.slice(0, changes).entries()) {
      const key = report.states[index + 1]
      const boundary = start + change.atMs
      const watching = report.clients.filter((c) => c.openedAt !== null && c.openedAt < boundary)
      const arrivals = watching.flatMap((c) => key === undefined || c.seen[key] === undefined ? [] : [c.seen[key]])
      missed += watching.length - arrivals.length
      if (arrivals.length === 0) {
        perChange.push(`${change.name}: no client watching before it saw it (${watching.length} watching)`)
        continue
      }
      const delays = sortedSamples(arrivals.map((at) => at - boundary))
      const earliest = arrivals.reduce((a, b) => Math.min(a, b))
      const spread = sortedSamples(arrivals.map((at) => at - earliest))
      allDelays.push(...delays)
      perChange.push(`${change.name} (${(change.atMs / 1000).toFixed(0)} s, ${arrivals.length} of ${count} clients watching): ` +
        `from the vendor's change, p50 ${ms(percentile(delays, 50))}, p99 ${ms(percentile(delays, 99))}, last ${ms(delays[delays.length - 1]!)}; ` +
        `first to last client p50 ${ms(percentile(spread, 50))}, p99 ${ms(percentile(spread, 99))}, max ${ms(spread[spread.length - 1]!)}`)
    }
    const sorted = sortedSamples(allDelays)
    notes.push(`events, ${label}: all ${report.opened} ${mode === 'sse' ? 'streams open' : 'pollers answered once'} ${openS.toFixed(1)} s after the run's start; ` +
      `per change, ${perChange.join('; ')}. ` +
      `The run's start is when the first ask was sent; it was answered ${(report.firstAskAnswered - report.firstAskSent).toFixed(0)} ms later, the error of every delay here. ` +
      `Service CPU while the clients were opening ${serviceWhileOpening(samples, report.firstAskSent, report.allOpenAt)}; ` +
      `client process CPU ${(report.cpuWhenOpen / openS * 100).toFixed(0)}% of a core while opening, ${(report.cpu / seconds * 100).toFixed(0)}% over the whole run. ` +
      `Service CPU ${cpuBefore === undefined || cpuAfter === undefined ? '—' : `${((cpuAfter - cpuBefore) / seconds * 100).toFixed(0)}% of a core`}, ${(report.answers / seconds).toFixed(0)} ${mode === 'sse' ? 'events' : 'answers'}/s over ${seconds.toFixed(1)} s.` +
      (report.errors > 0 ? ` ${report.errors} errors, e.g. ${report.errorSamples.join(' | ')}.` : '') +
      (missed > 0 ? ` ${missed} times a watching client never saw a change (counted as errors).` : ''))
    const row: Row = {
      scenario: `events, ${count} clients on one order`,
      contestant: mode === 'sse' ? 'SSE streams (p50/p99: vendor change → event)' : 'polling every 1 s (p50/p99: vendor change → answer)',
      rps: report.answers / seconds,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      errors: report.errors + missed,
      vendorCallsPerS: callsPerS,
      cpuPerRequest: cpuBefore === undefined || cpuAfter === undefined || report.answers === 0 ? undefined : ((cpuAfter - cpuBefore) / report.answers) * 1e6,
      generatorCpuPerRequest: report.answers === 0 ? undefined : (report.cpu / report.answers) * 1e6,
      peakRss: peak
    }
    const goal = 1000 / options.freshMs + 1
    const targets: TargetResult[] = mode === 'sse'
      ? [{ target: `events: vendor calls/s with ${report.opened} SSE streams on one order`, measured: callsPerS.toFixed(2), goal: `≤ ${goal.toFixed(1)} (1/interval + 1)`, pass: callsPerS <= goal }]
      : [{ target: `events baseline: vendor calls/s with ${report.opened} clients polling every 1 s`, measured: callsPerS.toFixed(2), goal: 'reported', pass: undefined }]
    if (report.opened < count) notes.push(`events, ${label}: only ${report.opened} of ${count} clients connected.`)
    log(`  ${label}: ${callsPerS.toFixed(2)} vendor calls/s, p50 ${ms(row.p50)}, p99 ${ms(row.p99)}, peak RSS ${peak === undefined ? '—' : (peak / 1024 / 1024).toFixed(0)} MB, ${row.errors} errors`)
    return { label, row, targets, notes, vendorCallsPerS: callsPerS }
  } finally {
    await stopProcess(service)
  }
}

/** The callback method's fresh TTL: long enough that only the callback's wake-up makes the poller see the change. */
const CALLBACK_FRESH_MS = 20_000
/** the path secret of the services' callback route in this bench */
const CALLBACK_TOKEN = randomBytes(24).toString('hex')

/** min, p50, p99 and max of some lags, ms */
interface Lags { count: number, min: number, p50: number, p99: number, max: number }
function lagsOf (values: number[]): Lags {
  const sorted = sortedSamples(values)
  return { count: sorted.length, min: sorted[0] ?? NaN, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN }
}
const lagText = (lags: Lags): string => `min ${ms(lags.min)}, p50 ${ms(lags.p50)}, p99 ${ms(lags.p99)}, max ${ms(lags.max)}`

/** Waits until the service says it reached Redis (redis_up 1): it starts, and is ready, without it. */
async function redisUp (service: Started, metricsUrl: string): Promise<void> {
  for (let tries = 0; !/^redis_up 1$/m.test(await (await fetch(metricsUrl)).text()); tries++) {
    if (tries === 100) throw new Error(`${service.name} did not reach Redis in 10 s:\n${service.output()}`)
    await sleep(100)
  }
}

/**
 * The callback method: `count` streams on the clock order, on one service or spread over two
 * replicas sharing Redis, with CACHE_FRESH_MS=20000 so that only the vendor's delivery callback
 * (posted by the client process to the first service just after the change, as the vendor would)
 * makes the poller see it. The lag is from that post to each stream's event showing the change.
 * With `floor`, the streams are held by bare node:http instead (bench/baselines/sse-floor.ts),
 * which only ends them: what the same client measures of this machine and Node's http layer alone.
 */
async function measureCallbackPart (simulator: Started, options: BenchOptions, count: number, openFiles: number, replicas: 1 | 2, floor = false): Promise<Part> {
  const change = options.quick ? CHANGES[0] : CHANGES[2]
  const label = floor ? `${count} SSE streams, callback-driven, bare node:http floor` : replicas === 1 ? `${count} SSE streams, callback-driven` : `${count} SSE streams over 2 replicas on Redis, callback to A only`
  const redis = replicas === 2 ? await startRedisServer() : undefined
  const services: Started[] = []
  try {
    const metricsPorts: number[] = []
    if (floor) services.push(await startSseFloor(options, openFiles))
    else {
      for (let index = 0; index < replicas; index++) {
        const metricsPort = await freePort()
        metricsPorts.push(metricsPort)
        const share = Math.ceil(count / replicas)
        services.push(await startService(simulator, options, true, undefined, {
          name: replicas === 1 ? 'service (callback)' : `replica ${'AB'[index]!} (callback)`,
          openFiles,
          env: {
            CACHE_FRESH_MS: String(CALLBACK_FRESH_MS),
            CALLBACK_TOKEN,
            EVENTS_MAX_STREAMS: String(share),
            // the clients are one address: with Redis its share is the fleet's, so it must fit all of them, not one replica's part
            EVENTS_MAX_PER_CLIENT: String(Math.min(count, 10_000)),
            MAX_CONNECTIONS: String(share + 100),
            MAX_EVENT_LOOP_DELAY_MS: '0',
            METRICS_PORT: String(metricsPort),
            METRICS_HOST: '127.0.0.1',
            ...redis === undefined ? {} : { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `bench-events-${redis.port}:`, REDIS_SIGNING_KEY: BENCH_SIGNING_KEY }
          }
        }))
      }
    }
    if (redis !== undefined) for (const [index, service] of services.entries()) await redisUp(service, `http://127.0.0.1:${metricsPorts[index]!}/metrics`)
    // a fresh run of the clock order, whatever the parts before did with it (this forgets the simulator's stats too)
    const reset = await fetch(`${simulator.url}/_simulator/reset`, { method: 'POST' })
    if (reset.status !== 204) throw new Error(`the simulator's reset answered HTTP ${reset.status}`)
    const redisClient = redis === undefined ? undefined : new Redis(redis.url, { maxRetriesPerRequest: 1 })
    const publishesBefore = redisClient === undefined ? 0 : await publishes(redisClient)
    const cpuBefore = await Promise.all(services.map(async (s) => await cpuSeconds(s.child.pid!)))
    log(`events: ${label} on order ${CALLBACK_ORDER}`)
    const report = await clientProcess({
      mode: 'sse',
      url: services[0]!.url,
      urls: services.map((s) => s.url),
      path: `/orders/${CALLBACK_ORDER}?machine=${MACHINE}`,
      count,
      untilMs: change.atMs + 10_000,
      changes: 1,
      callback: { path: `/callbacks/delivery/${CALLBACK_TOKEN}`, afterMs: change.atMs + 5 }
    }, openFiles, profileArgs(options, 'events-client-callback'))
    const cpuAfter = await Promise.all(services.map(async (s) => await cpuSeconds(s.child.pid!)))
    const floorFanOut = floor ? ((await (await fetch(`${services[0]!.url}/stats`)).json()) as { lastFanOut: { streams: number, ms: number } | null }).lastFanOut : null
    const publishesAfter = redisClient === undefined ? 0 : await publishes(redisClient)
    redisClient?.disconnect()
    for (const service of services) if (service.child.exitCode !== null || service.child.signalCode !== null) throw new Error(`${service.name} exited during the events run:\n${service.output()}`)
    const sent = report.callbackSentAt
    if (sent === undefined) throw new Error('the events client process never sent the callback')
    const key = report.states[1]
    const openS = (report.allOpenAt - report.openStartedAt) / 1000
    const groups = services.map((_s, group) => {
      const arrivals = report.clients.flatMap((c, index) => index % replicas !== group || key === undefined || c.seen[key] === undefined ? [] : [c.seen[key]])
      return lagsOf(arrivals.map((at) => at - sent))
    })
    const missed = report.clients.filter((c) => key === undefined || c.seen[key] === undefined).length
    const seconds = (report.endedAt - report.firstAskSent) / 1000
    const perWatcherUs = groups.map((lags) => ((lags.p99 - lags.min) * 1000) / (lags.count * 0.99))
    const names = floor ? ['bare node:http floor'] : replicas === 1 ? ['one process'] : ['replica A (got the callback)', 'replica B']
    const notes = [`events, ${label}: the callback was posted ${(sent - report.firstAskAnswered - change.atMs).toFixed(0)} ms after the ${change.name} change's latest possible time and answered in ${((report.callbackAnswered ?? NaN) - sent).toFixed(0)} ms; ` +
      `all ${report.opened} streams open ${openS.toFixed(2)} s after the first was asked for; ` +
      groups.map((lags, index) => `${names[index]!} (${lags.count} streams): lag from the callback ${lagText(lags)}, ${perWatcherUs[index]!.toFixed(0)} µs per stream from the first to the p99 one`).join('; ') + '. ' +
      (floorFanOut === null ? '' : `The floor's own loop handed the final frame of ${floorFanOut.streams} streams to the kernel in ${floorFanOut.ms.toFixed(0)} ms (${(floorFanOut.ms * 1000 / floorFanOut.streams).toFixed(0)} µs per stream), before any client read it. `) +
      `Service CPU ${services.map((s, index) => cpuBefore[index] === undefined || cpuAfter[index] === undefined ? '—' : `${s.name} ${(cpuAfter[index] - cpuBefore[index]).toFixed(1)} s`).join(', ')} over ${seconds.toFixed(1)} s.` +
      (redisClient === undefined ? '' : ` Redis PUBLISH commands during the run: ${publishesAfter - publishesBefore} (one per change and per wake, whatever the number of streams).`) +
      (report.errors > 0 ? ` ${report.errors} errors, e.g. ${report.errorSamples.join(' | ')}.` : '') +
      (missed > 0 ? ` ${missed} streams never saw the change (counted as errors).` : '')]
    const rows: Row[] = groups.map((lags, index) => ({
      scenario: `events, ${count} streams, callback-driven${replicas === 2 ? ', 2 replicas' : floor ? ', floor' : ''}`,
      contestant: `${names[index]!} (p50/p99: callback → event)`,
      rps: report.answers / seconds,
      p50: lags.p50,
      p99: lags.p99,
      errors: index === 0 ? report.errors + missed : 0
    }))
    const last = groups[groups.length - 1]!
    const targets: TargetResult[] = floor
      ? [{ target: `events, callback-driven, ${label}: first stream's lag, p99 lag, all streams open`, measured: `${ms(last.min)}, ${ms(last.p99)}, ${openS.toFixed(2)} s`, goal: 'reported (what any Node service gets here)' }]
      : [
          { target: `events, callback-driven, ${label}: first stream's lag${replicas === 2 ? ' on replica B' : ''}`, measured: ms(last.min), goal: replicas === 1 ? '≤ 50 ms' : 'reported', pass: replicas === 1 && count >= 10_000 ? last.min <= 50 : undefined },
          { target: `events, callback-driven, ${label}: p99 lag${replicas === 2 ? ' on replica B' : ''}`, measured: ms(last.p99), goal: replicas === 1 ? '≤ 250 ms' : '≤ 300 ms', pass: count >= 10_000 ? last.p99 <= (replicas === 1 ? 250 : 300) : undefined },
          { target: `events, callback-driven, ${label}: all streams open`, measured: `${openS.toFixed(2)} s`, goal: '≤ 2 s for 10,000', pass: count >= 10_000 ? openS <= 2 : undefined }
        ]
    log(`  ${label}: ${groups.map((lags, index) => `${names[index]!} ${lagText(lags)}`).join('; ')}; opened in ${openS.toFixed(2)} s`)
    return { label, row: rows[0]!, rows, targets, notes, vendorCallsPerS: NaN }
  } finally {
    for (const service of services) await stopProcess(service)
    await redis?.kill()
  }
}

/** PUBLISH commands Redis has served so far (INFO commandstats). */
async function publishes (client: Redis): Promise<number> {
  const info = await client.info('commandstats')
  return Number(/cmdstat_publish:calls=(\d+)/.exec(info)?.[1] ?? 0)
}

/** The events scenario: streams, then pollers, each on a fresh service and a fresh clock order. */
export async function eventsScenario (options: BenchOptions, simulator: Started): Promise<ScenarioResult> {
  const hard = hardOpenFiles()
  // room for the vendor pool, the metrics server, logs and node's own descriptors
  const spare = 256
  const count = Math.min(options.eventsClients, hard - spare)
  const openFiles = Math.min(hard, count + spare)
  const notes: string[] = []
  if (count < options.eventsClients) notes.push(`events: ${count} clients, not ${options.eventsClients}: this machine's open-files hard limit (ulimit -Hn) is ${hard}.`)
  const parts = options.eventsParts
  const boundaryParts: Part[] = []
  if (parts.has('streams')) boundaryParts.push(await measurePart('sse', simulator, options, count, openFiles))
  if (parts.has('pollers')) {
    if (boundaryParts.length > 0) await sleep(500)
    boundaryParts.push(await measurePart('poll', simulator, options, count, openFiles))
  }
  // the callback method (each part on a fresh run of its clock order: measureCallbackPart resets the simulator)
  const callbackParts: Part[] = []
  if (parts.has('floor')) callbackParts.push(await measureCallbackPart(simulator, options, count, openFiles, 1, true))
  if (parts.has('callback')) callbackParts.push(await measureCallbackPart(simulator, options, count, openFiles, 1))
  if (parts.has('replicas')) {
    if (!redisServerInstalled()) notes.push(`events: the two-replica callback part was skipped, ${REDIS_SERVER} is not installed.`)
    else callbackParts.push(await measureCallbackPart(simulator, options, count, openFiles, 2))
  }
  notes.push(...[...boundaryParts, ...callbackParts].flatMap((part) => part.notes),
    'events: vendor calls/s are the simulator\'s calls for the watched order over the time from the first ask to the last client\'s last event or answer. ' +
    'p50/p99 in the table are the delay from the vendor\'s change (the simulator\'s phase boundary) to each client\'s event or first answer showing it, over every change and every client that was watching before it; ' +
    `req/s is events/s (streams) or answers/s (pollers); server µs/req is service CPU per event or answer. Each side ran on a fresh service process (its peak RSS its own) with EVENTS_MAX_STREAMS, MAX_CONNECTIONS and ulimit -n (${openFiles}) raised for ${count} clients and MAX_EVENT_LOOP_DELAY_MS=0; the clients ran in a process of their own, one connection each.`)
  return {
    rows: [...boundaryParts, ...callbackParts].flatMap((part) => part.rows ?? [part.row]),
    targets: [...boundaryParts, ...callbackParts].flatMap((part) => part.targets),
    notes
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const job = JSON.parse(process.env.EVENTS_CLIENT_JOB ?? 'null') as ClientJob | null
  if (job === null) {
    process.stderr.write('bench/events.js is run by the bench: EVENTS_CLIENT_JOB is missing\n')
    process.exit(2)
  }
  runClients(job).then(() => process.exit(0), (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`)
    process.exit(1)
  })
}
