import { randomUUID } from 'node:crypto'
import { budgetLimits, type CallBudgetLimits, type CallTokens } from '../../upstream/call-budget.js'
import { createMemoryCallTokens } from '../memory/call-budget.js'
import type { SharedLink } from './latency.js'
import { commandFailed, type Reject } from './rejections.js'

/** The fleet's one bucket, and the replicas that took from it lately; one hash tag, so both are on one node of a cluster. */
export const BUCKET_KEY = '{call-budget}:bucket'
export const REPLICAS_KEY = '{call-budget}:replicas'

/** A replica counts as sharing the budget for this long after its last take. */
export const REPLICA_SEEN_MS = 10_000

/**
 * One take from the fleet's bucket, on Redis' own clock (TIME), so the replicas' clocks never
 * matter: refill since the last take, take one call if the bucket holds what this take needs,
 * else say in how many ms it will. The same script notes this replica as a taker and counts the
 * takers of the last REPLICA_SEEN_MS, which is what a replica's share is while Redis is down.
 * ARGV: calls per second, burst, calls needed (1, or the reserve + 1 for a background poll),
 * this replica's id, REPLICA_SEEN_MS.
 */
const TAKE = `
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local per_second = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local needs = tonumber(ARGV[3])
local seen_ms = tonumber(ARGV[5])
local repaired = ''
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' and redis.call('DEL', KEYS[1]) == 1 then repaired = 'wrongtype' end
if redis.call('TYPE', KEYS[2]).ok ~= 'zset' and redis.call('DEL', KEYS[2]) == 1 then repaired = 'wrongtype' end
local state = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = tonumber(state[1])
local at = tonumber(state[2])
if (state[1] or state[2]) and (level == nil or at == nil or level < 0 or level > burst) then repaired = 'schema' end
if at ~= nil and at > now then repaired = 'future' end
if repaired == 'schema' or repaired == 'future' or level == nil or at == nil then
  level = burst
  at = now
end
if redis.call('ZREMRANGEBYSCORE', KEYS[2], '(' .. now, '+inf') > 0 then repaired = 'future' end
if now > at then
  level = math.min(burst, level + (now - at) * per_second / 1000)
  at = now
end
local wait = 0
if level >= needs then
  level = level - 1
else
  wait = math.max(1, math.ceil((needs - level) * 1000 / per_second))
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], 60000)
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - seen_ms)
redis.call('PEXPIRE', KEYS[2], seen_ms)
return { wait, redis.call('ZCARD', KEYS[2]), repaired }
`

export interface RedisCallTokensOptions {
  link: SharedLink
  /** counts and logs a bucket the take found broken, and repaired */
  reject: Reject
  /** the fleet's budget (VENDOR_MAX_CALLS_PER_SECOND) */
  limits: CallBudgetLimits
  /** the clock of the bucket this replica falls back on */
  now: () => number
}

/**
 * VENDOR_MAX_CALLS_PER_SECOND for the whole fleet: one token bucket in Redis (under the key
 * prefix) that every replica takes from, so together they stay within burst + perSecond × T
 * calls in any T seconds. While Redis is down, or a take fails, this replica takes from a bucket
 * of its own of perSecond / n, n being the replicas it last saw taking from the shared one (1 if
 * it never reached Redis): the fleet keeps to about the same budget as long as it is the same fleet.
 * A bucket the take cannot read (another type, a level outside [0, burst], a time later than
 * Redis's own, takers noted in the future) is reset to a full bucket by that take, counted in
 * redis_rejected_total and logged at most once a minute; it never takes the link down.
 */
export function createRedisCallTokens ({ link, reject, limits, now }: RedisCallTokensOptions): CallTokens {
  const id = randomUUID()
  let replicas = 1
  let alone: { replicas: number, tokens: CallTokens } | undefined

  function ownShare (): CallTokens {
    if (alone?.replicas !== replicas) {
      alone = { replicas, tokens: createMemoryCallTokens(budgetLimits(limits.perSecond / replicas), now) }
    }
    return alone.tokens
  }

  return {
    async take (background) {
      if (link.isUp()) {
        const needs = background ? limits.reserve + 1 : 1
        try {
          const [waitMs, takers, repaired] = await link.timed('take', () => link.client.eval(TAKE, 2, BUCKET_KEY, REPLICAS_KEY,
            String(limits.perSecond), String(limits.burst), String(needs), id, String(REPLICA_SEEN_MS)) as Promise<[number, number, string]>)
          if (repaired === 'wrongtype' || repaired === 'schema' || repaired === 'future') reject(repaired, 'call budget')
          replicas = Math.max(1, takers)
          return waitMs
        } catch (error) {
          commandFailed(link, reject, 'call budget', error)
        }
      }
      return await ownShare().take(background)
    }
  }
}
