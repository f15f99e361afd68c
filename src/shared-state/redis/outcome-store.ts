import type { SharedLink } from './latency.js'
import { NOT_HEARING } from './link.js'
import { decodeOutcome, encodeOutcome, type OutcomeLimits, type Read } from './outcome-codec.js'
import { commandFailed, type Reject } from './rejections.js'
import type { Signer } from './signing.js'
import { keepMs, supersedes, type Outcome, type TieredOutcome } from '../../orders/outcome.js'
import type { OutcomeStore } from '../../orders/outcome-store.js'
import type { KeptOutcome, MemoryOutcomeStore } from '../memory/outcome-store.js'

/**
 * While Redis is up, this replica's own copy of an outcome answers for its whole freshness when
 * it is covered (see createRedisOutcomeStore), and for the first quarter of it otherwise; after
 * that Redis is asked, since another replica may have a newer one. No copy is ever fresh for
 * longer than CACHE_FRESH_MS after the vendor's answer: freshness is counted from the outcome's
 * storedAt, which travels with it.
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
 *
 * The memory tier is a near cache. Every replica's vendor call is published on the outcomes
 * channel and kept here as it is heard (`remember`, src/shared-state/redis/coalescing.ts), so a
 * copy is replaced as soon as any replica gets a newer outcome, as long as no message was lost:
 * a copy is covered, and answers for its whole freshness without asking Redis, when it was kept
 * (by this replica's own call, a read from Redis or a message) while the link was up, in the
 * link's epoch that is still the current one (link.ts: a new one each time Redis goes down or
 * the subscriber subscribes again). Any other copy answers for LOCAL_SHARE_OF_FRESHNESS of it,
 * then Redis is read, and what it holds is kept, covered. An outcome never takes the place of a
 * newer one (`supersedes`): a message or a read that arrives late changes nothing.
 */
export function createRedisOutcomeStore ({ link, local, staleMs, signer, limits, reject }: RedisOutcomeStoreOptions): OutcomeStore & { remember: (key: string, outcome: Outcome) => void } {
  const covered = (kept: KeptOutcome): boolean => kept.epoch !== NOT_HEARING && kept.epoch === link.hearingEpoch()

  /** What is left of an outcome's keep time, counted from its storedAt as its writer counted it. */
  const keepLeft = (outcome: Outcome): number => outcome.storedAt + keepMs(outcome, staleMs) - limits.now()

  /**
   * After a read from Redis sent in `epoch`: the newer of what it answered and this replica's
   * copy, kept in that epoch (Redis has just shown nothing newer was written before it), unless
   * the epoch ended meanwhile. The copy kept stays the same object, so its representation is reused.
   */
  function keepNewest (key: string, outcome: Outcome, epoch: number): Outcome {
    const kept = local.get(key)
    const newest = kept === undefined || supersedes(outcome, kept.outcome) ? outcome : kept.outcome
    if (newest === kept?.outcome && (kept.epoch === epoch || epoch !== link.hearingEpoch())) return newest
    const left = keepLeft(newest)
    if (left > 0) local.set(key, newest, left, epoch)
    return newest
  }

  /**
   * Keeps an outcome another replica got (heard on the channel) in memory, as long as its writer
   * keeps it, unless the copy here is newer. Covered when heard while the link is up: what was
   * published after it will be heard too. A copy as new as the one heard stays as it is.
   */
  function remember (key: string, outcome: Outcome): void {
    const kept = local.get(key)
    if (kept !== undefined && !supersedes(outcome, kept.outcome)) return
    const left = keepLeft(outcome)
    if (left > 0) local.set(key, outcome, left, link.hearingEpoch())
  }

  return {
    remember,
    async get (key: string): Promise<TieredOutcome | undefined> {
      const kept = local.get(key)
      if (!link.isUp()) return kept
      if (kept !== undefined) {
        const share = covered(kept) ? 1 : LOCAL_SHARE_OF_FRESHNESS
        if (limits.now() - kept.outcome.storedAt < kept.outcome.freshMs * share) return kept
      }
      // the epoch the GET is sent in: what Redis answers is all there was, if no message was lost since
      const epoch = link.hearingEpoch()
      let sealed: string | null
      try {
        sealed = await link.timed('get', () => link.client.get(outcomeKey(key)))
      } catch (error) {
        commandFailed(link, reject, 'outcome', error)
        return kept
      }
      // nothing shared: this replica's copy, if any, may still serve stale-if-error
      if (sealed === null) return kept
      const read = openOutcome(signer, key, sealed, limits)
      if ('rejected' in read) {
        reject(read.rejected, 'outcome')
        return kept
      }
      // the newer of Redis's and this replica's copy, which Redis has just confirmed is the newest
      return { outcome: keepNewest(key, read.value, epoch), tier: 'redis' }
    },
    async set (key: string, outcome: Outcome, keep: number): Promise<void> {
      // this replica's own vendor call: covered like what it hears, as the others hear of it
      const kept = local.get(key)
      if (kept === undefined || supersedes(outcome, kept.outcome)) local.set(key, outcome, keep, link.hearingEpoch())
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
