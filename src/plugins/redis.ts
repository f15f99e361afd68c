import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { Metrics } from '../observability/metrics.js'
import { createRedisLink, type RedisLink, type RedisSettings } from '../shared-state/redis/link.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the Redis replicas share; null without REDIS_URL (every replica alone, in memory) */
    redis: RedisLink | null
  }
}

export interface RedisPluginOptions {
  /** config.redis: null leaves app.redis null */
  settings: RedisSettings | null
  metrics?: Metrics | undefined
}

/**
 * The link to the shared Redis as `app.redis`. The service starts whether or not Redis
 * answers (readiness never depends on it): until it does, and whenever it stops, each replica
 * works from its own memory. Closing the app closes both connections.
 */
const redis: FastifyPluginAsync<RedisPluginOptions> = async (app, { settings, metrics }) => {
  if (settings === null) {
    app.decorate('redis', null)
    return
  }
  if (metrics !== undefined) {
    metrics.registry.registerMetric(metrics.redisUp)
    metrics.redisUp.set(0)
  }
  const log = app.log.child({ component: 'redis' })
  const link = createRedisLink(settings, log, (up) => { metrics?.redisUp.set(up ? 1 : 0) })
  app.decorate('redis', link)
  app.addHook('onClose', async () => { await link.close() })
  await link.connect()
  if (!link.isUp()) log.warn({ redis: 'down' }, 'Redis not reachable at start: answering from this replica\'s memory until it is')
}

export const redisPlugin = fp(redis, { name: 'redis' })
