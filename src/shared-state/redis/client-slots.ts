import { createHash, randomUUID } from 'node:crypto'
import { unrefTimers, type Clock } from '../../orders/live/clock.js'
import type { ClientSlots } from '../../routes/stream-slots.js'
import { createMemoryClientSlots } from '../memory/client-slots.js'
import type { SharedLink } from './latency.js'
import { CLOCK_SKEW_MS } from './outcome-codec.js'
import { commandFailed, type Reject } from './rejections.js'

/**
 * How long a slot lives in Redis unless its holder renews it (every third of this): how long
 * the slots of a replica that died without giving them back (SIGKILL, a lost node) keep counting
 * against their clients at most. Long against a renewal's round trip and the clock-skew
 * allowance, short against a client's patience.
 */
export const CLIENT_SLOT_LEASE_MS = 15_000

/** Where a client's slots are counted: its key hashed, so an API key (or its id) never appears in Redis. */
export function clientSlotsKey (client: string): string {
  return `client-slots:${createHash('sha256').update(client).digest('hex').slice(0, 32)}`
}

/**
 * One take of a client's slot, on the caller's wall clock: a key of another type is replaced;
 * slots past their expiry are dropped, and so are slots that claim to live longer than a lease
 * can (beyond the clock-skew allowance), which no replica of this fleet wrote; a key without a
 * TTL or a longer one than a slot lives is counted too, and given one. Then a slot is added
 * unless the client holds `max` already. ARGV: now, lease ms, skew ms, max, the new slot's id.
 * Answers {1 taken | 0 refused, slots held, '' or what was repaired}.
 */
const TAKE = `
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local longest = lease + tonumber(ARGV[3])
local max = tonumber(ARGV[4])
local repaired = ''
if redis.call('TYPE', KEYS[1]).ok ~= 'zset' then
  if redis.call('DEL', KEYS[1]) == 1 then repaired = 'wrongtype' end
else
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl == -1 or ttl > longest then repaired = 'ttl' end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
if redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. (now + longest), '+inf') > 0 then repaired = 'future' end
local held = redis.call('ZCARD', KEYS[1])
local taken = 0
if held < max then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[5])
  held = held + 1
  taken = 1
end
if held > 0 then redis.call('PEXPIRE', KEYS[1], longest) end
return {taken, held, repaired}
`

/**
 * The slots one replica holds for one client, given another lease: added again if they were lost
 * (Redis restarted, or the key was deleted), since their streams are open. A key of another type
 * is replaced. ARGV: the new expiry, the key's TTL, the slots' ids. Answers '' or 'wrongtype'.
 */
const RENEW = `
local repaired = ''
if redis.call('TYPE', KEYS[1]).ok ~= 'zset' and redis.call('DEL', KEYS[1]) == 1 then repaired = 'wrongtype' end
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return repaired
`

export interface RedisClientSlotsOptions {
  link: SharedLink
  /** counts and logs a client's key the take found broken, and repaired */
  reject: Reject
  /** EVENTS_MAX_PER_CLIENT */
  max: number
  /** wall-clock milliseconds: the slots' expiries, compared with the other replicas' */
  now: () => number
  /** how long a slot lives without renewal (default CLIENT_SLOT_LEASE_MS) */
  leaseMs?: number
  /** the renewals' timer (default: an unref'd setTimeout, which never keeps the process up) */
  timers?: Pick<Clock, 'setTimer' | 'clearTimer'>
}

/**
 * EVENTS_MAX_PER_CLIENT for the whole fleet: one sorted set per client in Redis (under the key
 * prefix), a member per open stream or long poll, scored by its expiry. A take is one round trip
 * (TAKE); a release one ZREM that nobody waits for. While this replica holds slots it renews them
 * all every leaseMs / 3 in the background (one script per client), so a live stream keeps its
 * slot and a dead replica's expire within leaseMs. While Redis is down or slow, or a take fails,
 * this replica counts in its own memory, as a single process does; those slots are not moved to
 * Redis when it is back, so for as long as they stay open a client may hold up to max on each
 * replica. A key the take finds broken (another type, no TTL, slots claiming to live longer than
 * a lease) is repaired by that take, counted in redis_rejected_total and logged at most once a
 * minute; it never takes the link down, and it can hold a client out for one lease at most.
 */
export function createRedisClientSlots ({ link, reject, max, now, leaseMs = CLIENT_SLOT_LEASE_MS, timers = unrefTimers }: RedisClientSlotsOptions): ClientSlots {
  const local = createMemoryClientSlots(max)
  // the slots this replica holds in Redis, by key: what it renews
  const held = new Map<string, Set<string>>()
  let renewal: unknown

  const fail = (error: unknown): void => { commandFailed(link, reject, 'client slots', error) }

  // reachable, slow or not: renewals and releases keep no request waiting
  const reachable = (): boolean => link.isUp() || link.isSlow()

  function scheduleRenewal (): void {
    renewal = timers.setTimer(() => {
      renewal = undefined
      if (held.size > 0) scheduleRenewal()
      return renewAll()
    }, Math.floor(leaseMs / 3))
  }

  async function renewAll (): Promise<void> {
    if (!reachable()) return
    const expiry = String(now() + leaseMs)
    await Promise.all([...held].map(async ([key, slots]) => {
      try {
        const repaired = await link.timed('slot_renew', () => link.client.eval(RENEW, 1, key, expiry, String(leaseMs + CLOCK_SKEW_MS), ...slots) as Promise<string>)
        if (repaired === 'wrongtype') reject(repaired, 'client slots')
      } catch (error) {
        fail(error)
      }
    }))
  }

  function hold (key: string, slot: string): void {
    const slots = held.get(key) ?? new Set()
    held.set(key, slots.add(slot))
    if (renewal === undefined) scheduleRenewal()
  }

  function release (key: string, slot: string): void {
    const slots = held.get(key)
    slots?.delete(slot)
    if (slots?.size === 0) held.delete(key)
    if (held.size === 0 && renewal !== undefined) {
      timers.clearTimer(renewal)
      renewal = undefined
    }
    // not reachable: the slot expires within leaseMs, unrenewed
    if (reachable()) link.timed('slot_release', () => link.client.zrem(key, slot)).catch(fail)
  }

  return {
    async take (client) {
      if (link.isUp()) {
        const key = clientSlotsKey(client)
        const slot = randomUUID()
        try {
          const [taken, , repaired] = await link.timed('slot_take', () => link.client.eval(TAKE, 1, key,
            String(now()), String(leaseMs), String(CLOCK_SKEW_MS), String(max), slot) as Promise<[number, number, string]>)
          if (repaired === 'wrongtype' || repaired === 'ttl' || repaired === 'future') reject(repaired, 'client slots')
          if (taken !== 1) return undefined
          hold(key, slot)
          let given = false
          return () => {
            if (given) return
            given = true
            release(key, slot)
          }
        } catch (error) {
          // a take that timed out may still run: its slot, never renewed, expires within leaseMs
          fail(error)
        }
      }
      return await local.take(client)
    }
  }
}
