import type { SharedStateConfig, SharedStateDeps, SharedState } from '../shared-state.js'
import { createMemoryOutcomeStore } from '../memory/outcome-store.js'
import { createRedisCallTokens } from './call-budget.js'
import { createRedisClientSlots } from './client-slots.js'
import { createRedisCoalescing } from './coalescing.js'
import { watchLatency } from './latency.js'
import { createRedisLink, type RedisSettings } from './link.js'
import { createRedisOutcomeStore } from './outcome-store.js'
import { redisRateLimitStore } from './rate-limit-store.js'
import { createRejections } from './rejections.js'
import { createSigner, SEAL_OVERHEAD_CHARS } from './signing.js'
import { createRedisWatchBus } from './watch-bus.js'

/**
 * Every replica on one Redis: outcomes kept there behind this process's memory, one vendor call
 * per order across replicas, the watchers' news on pub/sub, one rate-limit budget and one count
 * of open streams and long polls per client, one vendor call budget for the fleet. Whenever
 * Redis does not answer, or answers slower than REDIS_SLOW_MS, each falls back on its memory
 * implementation. What is read back is taken only
 * when signed with the fleet's key and valid for where it was found (docs/redis-trust.md).
 */
export function createRedisSharedState (config: SharedStateConfig & { redis: RedisSettings }, deps: SharedStateDeps): SharedState {
  const { log, onSharedState, onRejected, onCommand, onSlow, now = Date.now } = deps
  const { maxEntries, maxBytes, staleMs, freshMs, terminalMs, notFoundMs } = config.resilience.cache
  const { signingKey, previousSigningKey, slowMs } = config.redisTrust
  // redis_up: shared, that is reachable and not slow; told once per change
  let shared: boolean | undefined
  const report = (): void => {
    if (link.isUp() === shared) return
    shared = link.isUp()
    onSharedState?.(shared)
  }
  const link = watchLatency(createRedisLink(config.redis, log, report), { slowMs, log, onCommand, onSlow: (slow) => { onSlow?.(slow); report() } })
  // an outcome is a normalized vendor answer: never bigger than the answer cap, plus the seal
  const signer = createSigner({ current: signingKey, previous: previousSigningKey }, config.redis.keyPrefix, { maxChars: config.vendorMaxBodyBytes + SEAL_OVERHEAD_CHARS })
  const limits = { freshness: { freshMs, terminalMs, notFoundMs }, now }
  const reject = createRejections({ log, onRejected, now })
  const outcomeStore = createRedisOutcomeStore({ link, local: createMemoryOutcomeStore({ maxEntries, maxBytes, now }), staleMs, signer, limits, reject })
  // the longest a replica holds an order's lease, renewed every LEASE_MS / 3 while it lives:
  // its whole vendor deadline and the store's write; past it, another replica takes over
  const lockMs = config.vendorTimeoutMs + 2 * config.redis.commandTimeoutMs
  return {
    outcomeStore,
    coalescing: createRedisCoalescing({ link, lockMs, now, signer, limits, reject, onOutcome: outcomeStore.remember }),
    watchBus: createRedisWatchBus({ link, signer, limits, reject }),
    rateLimitStore: (local) => redisRateLimitStore(link, reject, local),
    callTokens: (budget) => createRedisCallTokens({ link, reject, limits: budget, now }),
    clientSlots: (max) => createRedisClientSlots({ link, reject, max, now }),
    isShared: link.isUp,
    async start () {
      if (signingKey === null) log.warn({ redis: 'unsigned' }, 'REDIS_SIGNING_KEY unset: this process signs what it shares with a random key of its own, so other processes\' values are misses; set the same key on every replica to share')
      await link.connect()
      if (!link.isUp()) log.warn({ redis: 'down' }, 'Redis not reachable at start: answering from this replica\'s memory until it is')
    },
    close: link.close
  }
}
