import { createMemorySharedState } from './memory/shared-state.js'
import { createRedisSharedState } from './redis/shared-state.js'
import type { SharedState, SharedStateConfig, SharedStateDeps } from './shared-state.js'

/** The one place memory-or-shared is decided: Redis when config.redis is set, else this process's memory. */
export function createSharedState (config: SharedStateConfig, deps: SharedStateDeps): SharedState {
  const { redis } = config
  return redis === null ? createMemorySharedState(config, deps) : createRedisSharedState({ ...config, redis }, deps)
}
