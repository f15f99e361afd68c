import { request, type IncomingMessage } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { startProcess, stopProcess } from '../scripts/processes.js'
import { startService } from './contestants.js'
import type { BenchOptions } from './options.js'
import { log } from './rounds.js'
import type { ScenarioResult } from './scenarios.js'

// `--only vendor-budget` (issue 22, item 3): many watched orders, each of a different order (one
// phone, one order), against VENDOR_MAX_CALLS_PER_SECOND. Each client opens the event stream of
// an order of its own; the vendor (bench/baselines/churning-vendor.ts) answers any order id, and
// every order changes every 250 ms, so with CACHE_FRESH_MS=1000 each watched order would be polled
// once a second: 500 calls a second for 500 orders without a budget. Measured at the vendor: the
// calls in each second; at the clients: whether each stream got its first event.

const CHURNING_VENDOR = fileURLToPath(new URL('./baselines/churning-vendor.js', import.meta.url))
const BUDGET = 100
/** the goal: at most this many calls in any second */
const MAX_CALLS_PER_S = 110

export async function vendorBudget (options: BenchOptions): Promise<ScenarioResult> {
  const clients = options.quick ? 50 : 500
  const seconds = options.quick ? 4 : 20
  log(`vendor budget: ${clients} event streams, each of its own order, VENDOR_MAX_CALLS_PER_SECOND=${BUDGET}, CACHE_FRESH_MS=1000, for ${seconds} s`)
  const vendor = await startProcess('churning-vendor', CHURNING_VENDOR, { CHANGE_MS: '250', LINES: '2', HOST: '127.0.0.1' }, { readyPath: '/health' })
  const streams: IncomingMessage[] = []
  try {
    const service = await startService(vendor, options, true, undefined, {
      name: 'service-vendor-budget',
      env: {
        CACHE_FRESH_MS: '1000',
        VENDOR_MAX_CALLS_PER_SECOND: String(BUDGET),
        EVENTS_MAX_STREAMS: String(clients + 100),
        EVENTS_MAX_PER_CLIENT: String(clients + 100),
        MAX_EVENT_LOOP_DELAY_MS: '0'
      }
    })
    try {
      const firstEvent = new Array<boolean>(clients).fill(false)
      const statuses = new Map<string, number>()
      const { port } = new URL(service.url)
      const opened = Date.now()
      await Promise.all(Array.from({ length: clients }, async (_, i) => {
        const res = await new Promise<IncomingMessage>((resolve, reject) => {
          request({ host: '127.0.0.1', port, path: `/orders/${5000 + i}/events?machine=16327129`, agent: false }, resolve).on('error', reject).end()
        })
        streams.push(res)
        res.setEncoding('utf8')
        if (res.statusCode !== 200) {
          // a problem: counted by its code
          let body = ''
          res.on('data', (chunk: string) => { body += chunk })
          res.on('end', () => {
            const code = /"code":"([A-Z_]+)"/.exec(body)?.[1] ?? 'no problem body'
            statuses.set(`${res.statusCode} ${code}`, (statuses.get(`${res.statusCode} ${code}`) ?? 0) + 1)
          })
          return
        }
        statuses.set('200', (statuses.get('200') ?? 0) + 1)
        // until the first event: a chunk may end inside it
        let text = ''
        res.on('data', (chunk: string) => {
          if (firstEvent[i] === true) return
          text += chunk
          if (text.includes('event: order')) { firstEvent[i] = true; text = '' }
        })
        res.on('error', () => {})
      }))
      const openS = (Date.now() - opened) / 1000
      const before = await stats(vendor.url)
      await sleep(seconds * 1000)
      const after = await stats(vendor.url)
      // whole seconds of the measured window only: the first and last are partial
      const window = after.perSecond.slice(before.perSecond.length, after.perSecond.length - 1)
      const peak = Math.max(...window)
      const mean = window.reduce((sum, n) => sum + n, 0) / Math.max(1, window.length)
      const got = firstEvent.filter(Boolean).length
      return {
        rows: [],
        targets: [
          { target: `vendor budget: vendor calls in any second, ${clients} watched orders, budget ${BUDGET}/s`, measured: `${peak} (mean ${mean.toFixed(0)})`, goal: `≤ ${MAX_CALLS_PER_S}`, pass: peak <= MAX_CALLS_PER_S },
          { target: 'vendor budget: streams that got their first event', measured: `${got} of ${clients}`, goal: `${clients} of ${clients}`, pass: got === clients }
        ],
        notes: [
          `vendor budget: ${clients} stream requests answered in ${openS.toFixed(1)} s (HTTP ${[...statuses].map(([status, n]) => `${status}: ${n}`).join(', ')}); vendor calls per whole second over the ${seconds} s after: ${window.join(', ')}. ` +
            `Without a budget the service would poll each order once per CACHE_FRESH_MS: about ${clients} calls a second.`
        ]
      }
    } finally {
      await stopProcess(service)
    }
  } finally {
    for (const stream of streams) stream.destroy()
    await stopProcess(vendor)
  }
}

async function stats (url: string): Promise<{ calls: number, perSecond: number[] }> {
  return await (await fetch(`${url}/stats`)).json() as { calls: number, perSecond: number[] }
}
