import type { RedisLink } from './link.js'
import { decodeOutcome, encodeOutcome } from './outcome-codec.js'
import { keepMs, type Outcome, type TieredOutcome } from '../../orders/outcome.js'
import type { OutcomeStore } from '../../orders/outcome-store.js'
import type { MemoryOutcomeStore } from '../memory/outcome-store.js'

/**
 * While Redis is up, this replica's own copy of an outcome answers for the first quarter of its
 * freshness only; after that Redis is asked, since another replica may have a newer one. No
 * copy is ever fresh for longer than CACHE_FRESH_MS after the vendor's answer: freshness is
 * counted from the outcome's storedAt, which travels with it.
 */
export const LOCAL_SHARE_OF_FRESHNESS = 1 / 4

export interface RedisOutcomeStoreOptions {
  link: RedisLink
  /** the memory tier: answers first, and alone while Redis is down */
  local: MemoryOutcomeStore
  /** CACHE_STALE_MS, to keep an outcome read from Redis in memory as long as its writer kept it */
  staleMs: number
  now: () => number
}

/**
 * Outcomes in Redis, under the key prefix, with this process's memory in front of them. Every
 * outcome written goes to both; Redis failing (down, or slower than REDIS_TIMEOUT_MS) makes the
 * memory tier answer alone, with the same TTL rules, until Redis is back.
 */
export function createRedisOutcomeStore ({ link, local, staleMs, now }: RedisOutcomeStoreOptions): OutcomeStore & { remember: (key: string, outcome: Outcome) => void } {
  const redisKey = (key: string): string => `outcome:${key}`

  /** Keeps an outcome another replica got in memory, as long as its writer keeps it. */
  function remember (key: string, outcome: Outcome): void {
    const left = outcome.storedAt + keepMs(outcome, staleMs) - now()
    if (left > 0) local.set(key, outcome, left)
  }

  return {
    remember,
    async get (key: string): Promise<TieredOutcome | undefined> {
      const kept = local.get(key)
      if (!link.isUp()) return kept
      if (kept !== undefined && now() - kept.outcome.storedAt < kept.outcome.freshMs * LOCAL_SHARE_OF_FRESHNESS) return kept
      let text: string | null
      try {
        text = await link.client.get(redisKey(key))
      } catch (error) {
        link.reportFailure(error)
        return kept
      }
      const outcome = text === null ? undefined : decodeOutcome(text)
      // nothing shared: this replica's copy, if any, may still serve stale-if-error
      if (outcome === undefined) return kept
      remember(key, outcome)
      return { outcome, tier: 'redis' }
    },
    async set (key: string, outcome: Outcome, keep: number): Promise<void> {
      local.set(key, outcome, keep)
      if (!link.isUp()) return
      try {
        await link.client.set(redisKey(key), encodeOutcome(outcome), 'PX', Math.max(1, keep))
      } catch (error) {
        link.reportFailure(error)
      }
    }
  }
}
