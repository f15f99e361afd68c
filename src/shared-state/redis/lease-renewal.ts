import type { Clock } from '../../orders/live/clock.js'
import type { SharedLink } from './latency.js'
import { keyFaultOf } from './rejections.js'

/**
 * How long a lease lives in Redis unless its holder renews it (every third of this, while its
 * vendor call runs): how long a replica that died holding one (SIGKILL, a lost node) holds the
 * order up at most. No longer than the default CACHE_FRESH_MS, so a dead holder costs the
 * order's watchers one poll at most; far above the default REDIS_TIMEOUT_MS (250 ms), so a
 * renewal may take a whole timeout and the next one still lands before the lease runs out.
 */
export const LEASE_MS = 1000

/** Gives the lease `ms` more, only if it still holds the holder's token. Answers 1 renewed, 0 not (gone, or another's). */
const RENEW = `
if redis.call('type', KEYS[1]).ok == 'string' and redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
`

export interface LeaseRenewalOptions {
  link: SharedLink
  /** the lease's key, its holder's token and that token's expiry (wall clock, as `now` counts) */
  lock: string
  token: string
  expiresAt: number
  /** how long each renewal gives the lease (LEASE_MS, or less) */
  leaseMs: number
  now: () => number
  timers: Pick<Clock, 'setTimer' | 'clearTimer'>
}

/**
 * Keeps a held lease alive while its holder works: every leaseMs / 3, one RENEW gives it leaseMs
 * more, never past the token's own expiry (the holder's whole vendor deadline), so a lease lives
 * no longer than the token says, however long the work. Renewals stop for good once one finds the
 * lease gone or another's (it ran out, and another replica took it over: the holder finishes and
 * publishes anyway), once the token's expiry is reached, and when the returned stop is called;
 * then no timer is left. While Redis is neither up nor slow, a renewal is skipped; a failed one is
 * reported to the link (a key fault is no Redis failure) and nobody waits on either.
 */
export function renewWhileHeld ({ link, lock, token, expiresAt, leaseMs, now, timers }: LeaseRenewalOptions): () => void {
  let timer: unknown
  let stopped = false
  const stop = (): void => {
    stopped = true
    if (timer !== undefined) timers.clearTimer(timer)
    timer = undefined
  }

  async function renew (ms: number): Promise<void> {
    try {
      const renewed = await link.timed('lease', () => link.client.eval(RENEW, 1, lock, token, ms))
      if (renewed !== 1) stop()
    } catch (error) {
      if (keyFaultOf(error) === undefined) link.reportFailure(error)
    }
  }

  function schedule (): void {
    timer = timers.setTimer(() => {
      timer = undefined
      const ms = Math.min(leaseMs, Math.floor(expiresAt - now()))
      // past its token's expiry the lease is no lease: it lapses where it stands
      if (stopped || ms <= 0) return stop()
      schedule()
      if (link.isUp() || link.isSlow()) return renew(ms)
    }, Math.floor(leaseMs / 3))
  }

  schedule()
  return stop
}
