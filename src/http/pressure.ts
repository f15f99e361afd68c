import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import type { LimitsConfig } from '../config.js'
import { AppError } from '../errors.js'

/** Seconds an app should wait when the process itself is overloaded. */
const OVERLOADED_RETRY_AFTER_S = 5

/**
 * Sheds requests while the event loop lags or memory runs high (@fastify/under-pressure),
 * answering our 503 problem. Health probes pass: an overloaded process is still alive, and
 * readiness has its own say.
 * @see https://github.com/fastify/under-pressure
 */
export async function registerPressure (app: FastifyInstance, limits: LimitsConfig): Promise<void> {
  await app.register(underPressure, {
    maxEventLoopDelay: limits.maxEventLoopDelayMs || undefined,
    maxRssBytes: limits.maxRssBytes || undefined,
    sampleInterval: 500,
    // nothing returned: the request goes on; a rejection goes to our error handler as a 503 problem
    pressureHandler: async (request, _reply, type, value) => {
      if (request.url.startsWith('/health/')) return
      request.log.warn({ pressure: { type, value } }, 'shedding load')
      throw new AppError('UNAVAILABLE', { detail: 'The service is overloaded; try again shortly.', retryAfter: OVERLOADED_RETRY_AFTER_S })
    }
  })
}
