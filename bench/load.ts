import autocannon from 'autocannon'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { percentile, sortedSamples } from './stats.js'

/** What one round of load against one contestant measured. */
export interface LoadResult {
  /** 2xx answers per second of the round */
  rps: number
  /** latency percentiles of the 2xx answers, in ms */
  p50: number
  p99: number
  /** non-2xx answers plus socket errors and timeouts */
  errors: number
  seconds: number
  /** steady-rate rounds only: p99 of how late the generator sent a request after it was due, ms */
  lagP99?: number
}

/**
 * Closed-loop saturation with autocannon: `connections` keep one request in flight each. Latencies
 * are taken from autocannon's per-response event at microsecond precision (its own histogram
 * truncates to whole milliseconds, which hides everything a cache hit is about). Several URLs
 * (replicas) share the connections round-robin, all at once.
 */
export async function saturate (url: string | string[], connections: number, seconds: number, headers: Record<string, string> = {}): Promise<LoadResult> {
  const latencies: number[] = []
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    // autocannon takes an array of URLs, though its types say one
    const instance = autocannon({ url: url as string, connections, duration: seconds, pipelining: 1, timeout: 10, headers }, (error, done) => {
      if (error !== null && error !== undefined) reject(error)
      else resolve(done)
    })
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime)
    })
  })
  const sorted = sortedSamples(latencies)
  return {
    rps: result['2xx'] / result.duration,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors: result.non2xx + result.errors,
    seconds: result.duration
  }
}

/**
 * Open-loop load at a fixed rate, requests spread evenly over each second. autocannon's
 * overallRate is a per-second budget that each connection spends as fast as it can, so it
 * measures bursts at full speed, not a steady half load. Requests are sent on schedule whatever
 * the server does (a stalled server makes them queue in the pool, and that wait counts: no
 * coordinated omission). Latency counts from when a request was sent; how late the generator
 * itself sent it (its timer ticks every 1 ms, and it shares the cores) is reported apart, as lagP99.
 */
export async function paced (url: string, rate: number, connections: number, seconds: number): Promise<LoadResult> {
  const target = new URL(url)
  const pool = new Pool(target.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 10_000, bodyTimeout: 10_000 })
  const path = target.pathname + target.search
  const latencies: number[] = []
  const lags: number[] = []
  let errors = 0
  const inFlight = new Set<Promise<void>>()
  const started = performance.now()
  const end = started + seconds * 1000
  let sent = 0

  const fire = (due: number): void => {
    const sentAt = performance.now()
    lags.push(sentAt - due)
    const request = pool.request({ method: 'GET', path }).then(async (response) => {
      await response.body.dump()
      if (response.statusCode >= 200 && response.statusCode < 300) latencies.push(performance.now() - sentAt)
      else errors++
    }, () => { errors++ })
    inFlight.add(request)
    request.finally(() => inFlight.delete(request)).catch(() => {})
  }

  while (performance.now() < end) {
    const now = performance.now()
    const due = Math.floor(((now - started) / 1000) * rate)
    for (; sent < due; sent++) fire(started + (sent / rate) * 1000)
    // a 1 ms tick, not a busy loop: on two cores a spinning generator would starve the server
    await sleep(1)
  }
  await Promise.all(inFlight)
  await pool.close()
  const elapsed = (performance.now() - started) / 1000
  const sorted = sortedSamples(latencies)
  return {
    rps: latencies.length / elapsed,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors,
    seconds: elapsed,
    lagP99: percentile(sortedSamples(lags), 99)
  }
}
