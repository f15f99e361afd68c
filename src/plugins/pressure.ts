import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { LimitsConfig } from '../config/config.js'
import { AppError } from '../errors/catalogue.js'

const SAMPLE_INTERVAL_MS = 500
// the delay histogram's own resolution; its mean includes that much even on an idle loop
const RESOLUTION_MS = 10

declare module 'fastify' {
  interface FastifyInstance {
    /** true while the process sheds load (readiness reports it) */
    isUnderPressure: () => boolean
  }
}

export type PressureLimits = Pick<LimitsConfig, 'maxEventLoopDelayMs' | 'maxRssBytes'>

/** Which limit is exceeded, and by what reading. */
export interface Overload {
  type: 'eventLoopDelay' | 'rssBytes'
  value: number
}

export interface PressureMonitor {
  /** takes one reading; never throws: a failed RSS reading keeps the last one and is returned */
  sample: () => unknown
  /** the limit the last readings exceed, if any (a limit of 0 is off) */
  overload: () => Overload | undefined
  stop: () => void
}

/**
 * Event-loop delay and RSS, read on a timer. process.memoryUsage reads /proc to get RSS and
 * throws EMFILE once descriptors run out: a sampler that let that escape would end the process
 * at the worst moment, or stop sampling and shed load for ever.
 */
export function createPressureMonitor (limits: PressureLimits, readRss: () => number = () => process.memoryUsage.rss()): PressureMonitor {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  let eventLoopDelayMs = 0
  let rssBytes = 0
  return {
    sample () {
      // no sample at all in the interval means the loop was blocked throughout
      eventLoopDelayMs = Number.isNaN(histogram.mean) ? Infinity : Math.max(0, histogram.mean / 1e6 - RESOLUTION_MS)
      histogram.reset()
      try {
        rssBytes = readRss()
        return undefined
      } catch (error) {
        return error
      }
    },
    overload () {
      if (limits.maxEventLoopDelayMs > 0 && eventLoopDelayMs > limits.maxEventLoopDelayMs) return { type: 'eventLoopDelay', value: eventLoopDelayMs }
      if (limits.maxRssBytes > 0 && rssBytes > limits.maxRssBytes) return { type: 'rssBytes', value: rssBytes }
      return undefined
    },
    stop () { histogram.disable() }
  }
}

/**
 * Sheds requests while the event loop lags or memory runs high, answering our 503 problem.
 * Health probes pass: an overloaded process is still alive, and readiness says it is overloaded.
 * Its hook runs after those of problems, security headers and CORS, so a 503 carries their headers.
 */
const pressure: FastifyPluginAsync<PressureLimits> = async (app, limits) => {
  if (limits.maxEventLoopDelayMs === 0 && limits.maxRssBytes === 0) {
    app.decorate('isUnderPressure', () => false)
    return
  }
  const monitor = createPressureMonitor(limits)
  let readingFails = false
  const timer = setInterval(() => {
    const error = monitor.sample()
    // once per failing streak: during descriptor exhaustion it fails every sample
    if (error !== undefined && !readingFails) app.log.warn({ err: error }, 'cannot read memory use; keeping the last reading')
    readingFails = error !== undefined
  }, SAMPLE_INTERVAL_MS).unref()
  app.addHook('onClose', async () => {
    clearInterval(timer)
    monitor.stop()
  })

  app.decorate('isUnderPressure', () => monitor.overload() !== undefined)
  app.addHook('onRequest', (request, _reply, done) => {
    const overload = monitor.overload()
    if (overload === undefined || request.url.startsWith('/health/')) {
      done()
      return
    }
    request.log.warn({ pressure: overload }, 'shedding load')
    done(new AppError('UNAVAILABLE', { detail: 'The service is overloaded; try again shortly.' }))
  })
}

export const pressurePlugin = fp(pressure, { name: 'pressure', dependencies: ['problems', 'security-headers', 'cors'] })
