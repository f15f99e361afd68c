import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { freePort, startProcess, stopProcess } from '../scripts/processes.js'
import { startService } from './contestants.js'
import type { BenchOptions } from './options.js'
import { currentRss } from './process-stats.js'
import { log } from './rounds.js'
import type { ScenarioResult } from './scenarios.js'

// `--only slow-readers` (issue 22, item 6): clients that open an order's event stream and never
// read a byte. The order is the largest the service accepts (about 20 KB) and changes every
// 250 ms (bench/baselines/churning-vendor.ts), the service polls it every 250 ms, so each stream
// gets a 20 KB event four times a second that its client never takes. Measured: the service's
// RSS from when every stream is open to the end, how many streams it closed as slow readers,
// and whether it stays ready. Before the bound, 300 such clients took RSS from 146 MB to
// 1,163 MB in 70 s and readiness turned 503.

const CHURNING_VENDOR = fileURLToPath(new URL('./baselines/churning-vendor.js', import.meta.url))
const CHANGE_MS = 250
const ORDER = '/orders/3001/events?machine=16327129'
/** the goal: RSS stays within this of where it was once every stream was open */
const MAX_GROWTH_MB = 50

export async function slowReaders (options: BenchOptions): Promise<ScenarioResult> {
  const clients = options.quick ? 30 : 300
  // long enough for the kernel's socket buffers to fill (about 50 s here) and the service to close the streams 30 s later
  const seconds = options.quick ? 5 : 100
  log(`slow readers: ${clients} event streams of a ~20 KB order changing every ${CHANGE_MS} ms, never read, for ${seconds} s`)
  const vendor = await startProcess('churning-vendor', CHURNING_VENDOR, { CHANGE_MS: String(CHANGE_MS), HOST: '127.0.0.1' }, { readyPath: '/health' })
  const sockets: Socket[] = []
  const metricsPort = await freePort()
  try {
    const service = await startService(vendor, options, true, undefined, {
      name: 'service-slow-readers',
      env: {
        CACHE_FRESH_MS: String(CHANGE_MS),
        EVENTS_MAX_STREAMS: String(clients + 100),
        EVENTS_MAX_PER_CLIENT: String(clients + 100),
        METRICS_PORT: String(metricsPort),
        METRICS_HOST: '127.0.0.1',
        MAX_EVENT_LOOP_DELAY_MS: '0',
        MAX_RSS_BYTES: '0'
      }
    })
    try {
      const { port } = new URL(service.url)
      for (let i = 0; i < clients; i++) {
        const socket = connect(Number(port), '127.0.0.1')
        // never read: what arrives stays in the kernel's buffers, then in the service's
        socket.pause()
        socket.on('error', () => {})
        socket.write(`GET ${ORDER} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n`)
        sockets.push(socket)
      }
      await sleep(1000)
      const pid = service.child.pid!
      const startRss = (await currentRss(pid)) ?? Number.NaN
      let peak = startRss
      const samples: number[] = []
      for (let s = 0; s < seconds; s++) {
        await sleep(1000)
        const rss = (await currentRss(pid)) ?? Number.NaN
        samples.push(rss)
        peak = Math.max(peak, rss)
      }
      const ready = await fetch(`${service.url}/health/ready`).then((res) => res.status, () => 0)
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(async (res) => await res.text(), () => '')
      const closed = Number(/^events_slow_readers_closed_total (\d+)/m.exec(metrics)?.[1] ?? Number.NaN)
      const sent = Number(/^events_sent_total\{event="order"\} (\d+)/m.exec(metrics)?.[1] ?? Number.NaN)
      const growthMb = (peak - startRss) / 1024 / 1024
      const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0)
      return {
        rows: [],
        targets: [{
          target: `RSS growth, ${clients} never-reading streams over ${seconds} s`,
          measured: `${growthMb.toFixed(0)} MB (${mb(startRss)} → peak ${mb(peak)} MB)`,
          goal: `≤ ${MAX_GROWTH_MB} MB`,
          pass: growthMb <= MAX_GROWTH_MB
        }],
        notes: [
          `slow readers: the service's RSS once the ${clients} streams were open ${mb(startRss)} MB, then every 10 s: ${samples.filter((_, i) => i % 10 === 9).map(mb).join(', ') || '—'} MB; ` +
            `readiness at the end HTTP ${ready}; ${sent} events written to the streams' sockets; ${closed} of ${clients} streams closed as slow readers (events_slow_readers_closed_total; each after 30 s undrained) by then.`
        ],
        servicePeakRss: peak
      }
    } finally {
      await stopProcess(service)
    }
  } finally {
    for (const socket of sockets) socket.destroy()
    await stopProcess(vendor)
  }
}
