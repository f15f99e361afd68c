import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { Config, ResilienceConfig } from '../config/config.js'
import type { WatchBus } from '../orders/live/bus.js'
import type { OutcomeStore } from '../orders/outcome-store.js'
import type { Coalescing } from '../orders/read-through.js'
import type { ClientSlots } from '../routes/stream-slots.js'
import type { CallBudgetLimits, CallTokens } from '../upstream/call-budget.js'
import type { BoundedStoreOptions } from './memory/rate-limit-store.js'
import type { RedisCommand } from './redis/latency.js'
import type { LinkLog } from './redis/link.js'
import type { RejectionReason } from './redis/rejections.js'

/**
 * What the shared state is built from: where it is shared (config.redis) and what it takes from
 * there (config.redisTrust), the memory tier's bounds, the freshness an outcome may have at most,
 * and the vendor deadline.
 */
export type SharedStateConfig = Pick<Config, 'redis' | 'redisTrust' | 'vendorTimeoutMs' | 'vendorMaxBodyBytes'> & {
  resilience: { cache: Pick<ResilienceConfig['cache'], 'maxEntries' | 'maxBytes' | 'staleMs' | 'freshMs' | 'terminalMs' | 'notFoundMs'> }
}

export interface SharedStateDeps {
  /** where the link to a shared store logs coming and going */
  log: LinkLog
  /** told each time the shared store starts or stops answering (the redis_up gauge) */
  onSharedState?: ((up: boolean) => void) | undefined
  /** wall-clock milliseconds, as outcomes' storedAt counts them (default Date.now) */
  now?: () => number
  /** told of everything read from the shared store and not taken, by why (redis_rejected_total) */
  onRejected?: ((reason: RejectionReason) => void) | undefined
  /** told every command's round trip to the shared store (redis_command_duration_seconds) */
  onCommand?: ((command: RedisCommand, ms: number) => void) | undefined
  /** told each time the shared store starts or stops answering slower than its budget (redis_slow) */
  onSlow?: ((slow: boolean) => void) | undefined
}

/**
 * Everything replicas may share, behind the interfaces their users own: the orders' outcome
 * store and coalescing, the watchers' bus, the rate limit's counters, the vendor call budget and
 * the count of each client's event streams and long polls.
 * Either every one of them is shared (through Redis) or every one stays in this process's memory.
 */
export interface SharedState {
  outcomeStore: OutcomeStore
  coalescing: Coalescing
  watchBus: WatchBus
  /** the store class @fastify/rate-limit constructs; `local` bounds the counters kept in memory */
  rateLimitStore: (local: BoundedStoreOptions) => FastifyRateLimitStoreCtor
  /** where VENDOR_MAX_CALLS_PER_SECOND's calls are counted: one bucket for the fleet, or this process's */
  callTokens: (limits: CallBudgetLimits) => CallTokens
  /** where EVENTS_MAX_PER_CLIENT's streams and long polls are counted (at most `max` per client): for the fleet, or in this process */
  clientSlots: (max: number) => ClientSlots
  /** true while the other replicas share this state; false: this replica works from its own memory */
  isShared: () => boolean
  /** connects to the shared store, if any; resolves whether or not it answers (the service starts either way) */
  start: () => Promise<void>
  close: () => Promise<void>
}
