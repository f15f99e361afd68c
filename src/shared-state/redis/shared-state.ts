import type { SharedStateConfig, SharedStateDeps, SharedState } from '../shared-state.js'
import { createMemoryOutcomeStore } from '../memory/outcome-store.js'
import { createRedisCallTokens } from './call-budget.js'
import { createRedisCoalescing } from './coalescing.js'
import { createRedisLink, type RedisSettings } from './link.js'
import { createRedisOutcomeStore } from './outcome-store.js'
import { redisRateLimitStore } from './rate-limit-store.js'
import { createRedisWatchBus } from './watch-bus.js'

/**
 * Every replica on one Redis: outcomes kept there behind this process's memory, one vendor call
 * per order across replicas, the watchers' news on pub/sub, one rate-limit budget per client,
 * one vendor call budget for the fleet.
 * Whenever Redis does not answer, each falls back on its memory implementation.
 */
export function createRedisSharedState (config: SharedStateConfig & { redis: RedisSettings }, { log, onSharedState, now = Date.now }: SharedStateDeps): SharedState {
  const { maxEntries, maxBytes, staleMs } = config.resilience.cache
  const link = createRedisLink(config.redis, log, onSharedState)
  const outcomeStore = createRedisOutcomeStore({ link, local: createMemoryOutcomeStore({ maxEntries, maxBytes, now }), staleMs, now })
  // held through the holder's whole vendor deadline and the store's write; past it, another replica takes over
  const lockMs = config.vendorTimeoutMs + 2 * config.redis.commandTimeoutMs
  return {
    outcomeStore,
    coalescing: createRedisCoalescing({ link, lockMs, now, onOutcome: outcomeStore.remember }),
    watchBus: createRedisWatchBus(link),
    rateLimitStore: (local) => redisRateLimitStore(link, local),
    callTokens: (limits) => createRedisCallTokens({ link, limits, now }),
    isShared: link.isUp,
    async start () {
      await link.connect()
      if (!link.isUp()) log.warn({ redis: 'down' }, 'Redis not reachable at start: answering from this replica\'s memory until it is')
    },
    close: link.close
  }
}
