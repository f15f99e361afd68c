import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { SharedLink } from './latency.js'
import type { Reject } from './rejections.js'
import { BoundedRateLimitStore, type BoundedStoreOptions } from '../memory/rate-limit-store.js'

type Callback = Parameters<FastifyRateLimitStore['incr']>[1]

/**
 * One count in a fixed window, as @fastify/rate-limit's own Redis store makes it (INCR, and PEXPIRE
 * on the first), and under the same keys, plus the repair of a counter that cannot be one: a key
 * of another type or a value that is not an integer (INCR fails) is replaced by a fresh count; a
 * count below 1, or a TTL missing or longer than the window, is reset to a fresh window. Answers
 * {count, ms left in the window, '' or what was repaired}, in one round trip.
 */
const COUNT = `
local window = tonumber(ARGV[1])
local repaired = ''
local current = redis.pcall('incr', KEYS[1])
if type(current) == 'table' then
  repaired = string.find(current.err, 'WRONGTYPE', 1, true) and 'wrongtype' or 'not_integer'
  redis.call('del', KEYS[1])
  current = redis.call('incr', KEYS[1])
elseif current < 1 then
  repaired = 'not_integer'
  redis.call('set', KEYS[1], 1)
  current = 1
end
local ttl = redis.call('pttl', KEYS[1])
if current == 1 or ttl < 0 or ttl > window then
  if current ~= 1 and repaired == '' then repaired = 'ttl' end
  redis.call('pexpire', KEYS[1], window)
  ttl = window
end
return {current, ttl, repaired}
`

/**
 * One budget per client for the whole cluster: a fixed-window counter in Redis under the key
 * prefix. While Redis is down or slow, or a count fails, this replica counts alone in its bounded
 * memory store, as a single process does. A counter Redis cannot count (another type, not an
 * integer, no TTL) is repaired by the count itself, counted in redis_rejected_total and logged at
 * most once a minute; it never takes the link down.
 */
class RedisRateLimitStore implements FastifyRateLimitStore {
  constructor (private readonly link: SharedLink, private readonly reject: Reject, private readonly prefix: string, private readonly local: FastifyRateLimitStore) {}

  incr (key: string, callback: Callback, timeWindow: number, max: number): void {
    if (!this.link.isUp()) return this.local.incr(key, callback, timeWindow, max)
    this.link.timed('count', () => this.link.client.eval(COUNT, 1, this.prefix + key, timeWindow) as Promise<[number, number, string]>).then(([current, ttl, repaired]) => {
      if (repaired === 'wrongtype' || repaired === 'not_integer' || repaired === 'ttl') this.reject(repaired, 'rate-limit counter')
      callback(null, { current, ttl })
    }, (error: unknown) => {
      this.link.reportFailure(error)
      this.local.incr(key, callback, timeWindow, max)
    })
  }

  // the keys @fastify/rate-limit's Redis store gives a route of its own, so replicas of either version count together
  child (routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
    const route = (routeOptions as { routeInfo?: { method?: string, url?: string } }).routeInfo
    return new RedisRateLimitStore(this.link, this.reject, `${this.prefix}${route?.method}${route?.url}-`, this.local.child(routeOptions))
  }
}

/** The store class @fastify/rate-limit constructs with its options. */
export function redisRateLimitStore (link: SharedLink, reject: Reject, local: BoundedStoreOptions): FastifyRateLimitStoreCtor {
  return class extends RedisRateLimitStore {
    // plain fixed windows, as rate-limit.ts configures them: neither continueExceeding nor exponentialBackoff
    constructor () {
      super(link, reject, 'rate-limit:', new BoundedRateLimitStore(local))
    }
  }
}
