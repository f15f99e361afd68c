import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { redisHooks, registerRedisMetrics, type Metrics } from '../observability/metrics.js'
import { createSharedState } from '../shared-state/choose.js'
import type { SharedState, SharedStateConfig } from '../shared-state/shared-state.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the outcome store, coalescing, watch bus and rate-limit store: shared through Redis when one is configured (URL, Sentinel or Cluster), else this process's own */
    sharedState: SharedState
  }
}

export interface SharedStatePluginOptions {
  config: SharedStateConfig
  metrics?: Metrics | undefined
  /** wall-clock milliseconds for the memory tier and the call budget's buckets (default Date.now) */
  now?: (() => number) | undefined
}

/**
 * What replicas share, as `app.sharedState`. The service starts whether or not Redis answers
 * (readiness never depends on it, slow or down): until it does, and whenever it stops or turns
 * slow, each replica works from its own memory. Closing the app closes the connections.
 */
const sharedState: FastifyPluginAsync<SharedStatePluginOptions> = async (app, { config, metrics, now }) => {
  // the redis_* series exist only where Redis is configured
  if (config.redis !== null && metrics !== undefined) registerRedisMetrics(metrics)
  const state = createSharedState(config, { log: app.log.child({ component: 'redis' }), ...metrics && redisHooks(metrics), now })
  app.decorate('sharedState', state)
  app.addHook('onClose', async () => { await state.close() })
  await state.start()
}

export const sharedStatePlugin = fp(sharedState, { name: 'shared-state' })
