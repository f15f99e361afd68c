import type { SharedLink } from './latency.js'
import { decodeOutcome, encodeOutcome, type OutcomeLimits, type Read } from './outcome-codec.js'
import { keyFaultOf, type Reject } from './rejections.js'
import type { Signer } from './signing.js'
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
  link: SharedLink
  /** the memory tier: answers first, and alone while Redis is down */
  local: MemoryOutcomeStore
  /** CACHE_STALE_MS, to keep an outcome read from Redis in memory as long as its writer kept it */
  staleMs: number
  /** signs what is written, and opens what is read */
  signer: Signer
  /** this replica's CACHE_* freshness and clock: what a read outcome may claim at most */
  limits: OutcomeLimits
  /** counts and logs what is not taken */
  reject: Reject
}

/** The Redis key of an outcome (under the key prefix). */
export const outcomeKey = (key: string): string => `outcome:${key}`

/** An outcome sealed for its key: signed over the key and the payload, which names the key too. */
export function sealOutcome (signer: Signer, key: string, outcome: Outcome): string {
  return signer.seal(outcomeKey(key), encodeOutcome(key, outcome))
}

/** What Redis held under an outcome's key, opened and checked against the key and this replica's limits. */
export function openOutcome (signer: Signer, key: string, sealed: string, limits: OutcomeLimits): Read<Outcome> {
  if (signer.tooBig(sealed)) return { rejected: 'size' }
  const payload = signer.open(outcomeKey(key), sealed)
  return payload === undefined ? { rejected: 'signature' } : decodeOutcome(payload, key, limits)
}

/**
 * Outcomes in Redis, under the key prefix, with this process's memory in front of them. Every
 * outcome written goes to both; Redis failing (down, slower than REDIS_SLOW_MS, or than
 * REDIS_TIMEOUT_MS) makes the memory tier answer alone, with the same TTL rules, until Redis is
 * back. What Redis holds is taken only when a replica of this fleet signed it for that key and
 * it passes the checks of src/shared-state/redis/outcome-codec.ts; anything else, or a key of
 * another type, is a miss (counted, logged at most once a minute) that the next write overwrites.
 */
export function createRedisOutcomeStore ({ link, local, staleMs, signer, limits, reject }: RedisOutcomeStoreOptions): OutcomeStore & { remember: (key: string, outcome: Outcome) => void } {
  /** Keeps an outcome another replica got in memory, as long as its writer keeps it. */
  function remember (key: string, outcome: Outcome): void {
    const left = outcome.storedAt + keepMs(outcome, staleMs) - limits.now()
    if (left > 0) local.set(key, outcome, left)
  }

  return {
    remember,
    async get (key: string): Promise<TieredOutcome | undefined> {
      const kept = local.get(key)
      if (!link.isUp()) return kept
      if (kept !== undefined && limits.now() - kept.outcome.storedAt < kept.outcome.freshMs * LOCAL_SHARE_OF_FRESHNESS) return kept
      let sealed: string | null
      try {
        sealed = await link.timed('get', () => link.client.get(outcomeKey(key)))
      } catch (error) {
        const fault = keyFaultOf(error)
        if (fault === undefined) link.reportFailure(error)
        else reject(fault, 'outcome')
        return kept
      }
      // nothing shared: this replica's copy, if any, may still serve stale-if-error
      if (sealed === null) return kept
      const read = openOutcome(signer, key, sealed, limits)
      if ('rejected' in read) {
        reject(read.rejected, 'outcome')
        return kept
      }
      remember(key, read.value)
      return { outcome: read.value, tier: 'redis' }
    },
    async set (key: string, outcome: Outcome, keep: number): Promise<void> {
      local.set(key, outcome, keep)
      if (!link.isUp()) return
      try {
        // SET replaces a key of any type: a rejected value, or a hash where a string belongs, is repaired here
        await link.timed('set', () => link.client.set(outcomeKey(key), sealOutcome(signer, key, outcome), 'PX', Math.max(1, keep)))
      } catch (error) {
        link.reportFailure(error)
      }
    }
  }
}
