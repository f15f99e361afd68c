import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { Metrics } from '../observability/metrics.js'
import type { Clock } from '../orders/live/clock.js'
import { createWatchers, type Watchers } from '../orders/live/watchers.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** one poller per watched (order, machine), for the event streams and long polls */
    watchers: Watchers
  }
}

export interface WatchersPluginOptions {
  /** CACHE_FRESH_MS: how often a watched order is asked for */
  intervalMs: number
  /** VENDOR_MAX_CALLS_PER_SECOND is set: the polls take turns for it */
  budgeted: boolean
  metrics?: Metrics | undefined
  /** the pollers' time and timers (default: the system's) */
  clock?: Clock | undefined
}

/**
 * The order watchers over app.orders, so their polls go through the cache, coalescing, breaker
 * and retry. Closed before the server stops listening: every stream and long poll is told
 * watching is over and ends at once, rather than holding shutdown up.
 */
const watchersPlugin: FastifyPluginAsync<WatchersPluginOptions> = async (app, { intervalMs, budgeted, metrics, clock }) => {
  const watchers = createWatchers({
    getOrder: app.orders.getOrder,
    log: app.log.child({ component: 'watchers' }),
    intervalMs,
    // with Redis, changes and wake-ups reach every replica
    bus: app.sharedState.watchBus,
    onWatchedCount: metrics && ((count) => { metrics.watchedOrders.set(count) }),
    onPollInterval: metrics && ((ms) => { metrics.watchedPollInterval.observe(ms / 1000) }),
    takeTurns: budgeted,
    clock
  })
  app.decorate('watchers', watchers)
  app.addHook('preClose', (done) => { watchers.close(); done() })
}

export const orderWatchersPlugin = fp(watchersPlugin, { name: 'watchers', dependencies: ['orders-service', 'shared-state'], decorators: { fastify: ['orders', 'sharedState'] } })
