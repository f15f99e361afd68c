import type { SharedLink } from './latency.js'
import type { Reject } from './rejections.js'

/**
 * Adds a number of requests to a count in a fixed window, as @fastify/rate-limit's own Redis store
 * makes it (INCR, and PEXPIRE on the first), and under the same keys, plus the repair of a counter
 * that cannot be one: a key of another type or a value that is not an integer (INCRBY fails) is
 * replaced by a fresh count; a count below 0, or a TTL missing or longer than the window, is reset
 * to a fresh window. With ARGV[3] = '1' (requests admitted in a window this replica learned from
 * Redis) a missing key is left missing: that window has ended, and its requests do not count in
 * the next one. Answers {count, ms left in the window (-2: ended), '' or what was repaired}, in
 * one round trip.
 */
const COUNT = `
local window = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
if ARGV[3] == '1' and redis.call('exists', KEYS[1]) == 0 then return {0, -2, ''} end
local repaired = ''
local current = redis.pcall('incrby', KEYS[1], amount)
if type(current) == 'table' then
  repaired = string.find(current.err, 'WRONGTYPE', 1, true) and 'wrongtype' or 'not_integer'
  redis.call('del', KEYS[1])
  current = redis.call('incrby', KEYS[1], amount)
elseif current < amount then
  repaired = 'not_integer'
  redis.call('set', KEYS[1], amount)
  current = amount
end
local ttl = redis.call('pttl', KEYS[1])
if current == amount or ttl < 0 or ttl > window then
  if current ~= amount and repaired == '' then repaired = 'ttl' end
  redis.call('pexpire', KEYS[1], window)
  ttl = window
end
return {current, ttl, repaired}
`

/** The fleet's count for a key, and the ms left in its window; ttl < 0 when the window has ended. */
export interface Counted {
  current: number
  ttl: number
}

/**
 * Adds `amount` to a counter in Redis, `existing` only to one still in its window: the count with
 * the amount, or null when Redis failed (the link is told, and counts as down). A repaired
 * counter is counted in redis_rejected_total; it never takes the link down.
 */
export type CountInRedis = (key: string, amount: number, timeWindow: number, existing: boolean) => Promise<Counted | null>

export function redisCounter (link: SharedLink, reject: Reject): CountInRedis {
  return async (key, amount, timeWindow, existing) => {
    try {
      const [current, ttl, repaired] = await link.timed('count', () =>
        link.client.eval(COUNT, 1, key, timeWindow, amount, existing ? '1' : '0') as Promise<[number, number, string]>)
      if (repaired === 'wrongtype' || repaired === 'not_integer' || repaired === 'ttl') reject(repaired, 'rate-limit counter')
      return { current, ttl }
    } catch (error) {
      link.reportFailure(error)
      return null
    }
  }
}
