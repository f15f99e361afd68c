import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { AppConfig } from '../src/bootstrap/app.js'
import { buildSimulator } from '../src/simulator/app.js'
import { DEMO_CREDENTIALS } from '../src/simulator/credentials.js'
import { DISPENSING_AFTER_MS, FINISHED_AFTER_MS, PAID_AFTER_MS } from '../src/simulator/scenarios.js'
import { fakeClock } from './fixtures/clock.js'
import { buildTestApp } from './helper.js'

/** The clock orders' phases, in the order they come: unpaid, paid, dispensing, finished. */
export const PHASES_MS = [0, PAID_AFTER_MS, DISPENSING_AFTER_MS, FINISHED_AFTER_MS] as const

export interface ClockedService {
  /** the API, listening on a loopback port */
  url: string
  app: FastifyInstance
  simulator: FastifyInstance
  /** moves the simulator's clock to this long after the clock orders 2001-2003 started (they are asked for once at 0) */
  setElapsed: (ms: number) => void
}

/**
 * The service listening on a real port, on a simulator whose clock the test moves: the clock
 * orders progress when the test says, not after tens of seconds of real time. Closed in teardown.
 */
export async function startClockedService (t: Test, overrides: Partial<AppConfig> = {}, env: Record<string, string> = {}): Promise<ClockedService> {
  // the shared fake clock, its timers too: a run's end (and its notification) comes when the test moves the clock
  const clock = fakeClock()
  const simulator = buildSimulator({ now: clock.now, scheduler: clock.scheduler })
  t.teardown(() => simulator.close())
  const simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 })
  const app = await buildTestApp(t, simulatorUrl, { vendor: { baseUrl: simulatorUrl, ...DEMO_CREDENTIALS }, ...overrides }, {}, env)
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  // after the test's own teardowns (a page closed), before the app's close: a browser keeps sockets it opened
  // (kept alive, or opened ahead with no request yet), which the server's close otherwise waited out, up to its
  // 72 s keep-alive timeout and more
  t.teardown(() => { app.server.closeAllConnections() })
  // a clock order's run starts when it is first asked for: start them all at 0, so setElapsed counts from there
  // (from an address of its own, so the tests' rate-limit budgets stay whole)
  for (const id of [2001, 2002, 2003]) await app.inject({ url: `/orders/${id}?machine=16327129`, remoteAddress: '192.0.2.1' })
  // advance moves the clock before any I/O is handled (its first await only lets promises settle): the next request sees it
  return { url, app, simulator, setElapsed: (ms) => { clock.advance(ms - clock.now()).catch((error: unknown) => { t.error(error) }) } }
}
