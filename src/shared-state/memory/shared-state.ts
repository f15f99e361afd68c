import type { SharedStateConfig, SharedStateDeps, SharedState } from '../shared-state.js'
import { createMemoryCallTokens } from './call-budget.js'
import { createMemoryClientSlots } from './client-slots.js'
import { runInThisProcess } from './coalescing.js'
import { createMemoryOutcomeStore } from './outcome-store.js'
import { boundedStore } from './rate-limit-store.js'
import { createMemoryWatchBus } from './watch-bus.js'

/** Every replica alone: outcomes, vendor calls, watchers' news, rate-limit counters, the vendor call budget and the clients' open streams in this process only. */
export function createMemorySharedState (config: SharedStateConfig, { now = Date.now }: Pick<SharedStateDeps, 'now'> = {}): SharedState {
  const { maxEntries, maxBytes } = config.resilience.cache
  return {
    outcomeStore: createMemoryOutcomeStore({ maxEntries, maxBytes, now }),
    coalescing: runInThisProcess,
    watchBus: createMemoryWatchBus(),
    rateLimitStore: boundedStore,
    callTokens: (limits) => createMemoryCallTokens(limits, now),
    clientSlots: createMemoryClientSlots,
    isShared: () => false,
    start: async () => {},
    close: async () => {}
  }
}
