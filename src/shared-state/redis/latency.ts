import { unrefTimers, type Clock } from '../../orders/live/clock.js'
import { RECHECK_EVERY_MS, type LinkLog, type RedisLink } from './link.js'

/** The commands a replica sends, as redis_command_duration_seconds labels them. */
export const REDIS_COMMANDS = ['get', 'set', 'publish', 'lease', 'release', 'count', 'take', 'slot_take', 'slot_renew', 'slot_release', 'ping'] as const
export type RedisCommand = typeof REDIS_COMMANDS[number]

/** Commands in a row over REDIS_SLOW_MS that make Redis count as slow: one late answer (a GC pause, a fork) is not. */
export const SLOW_IN_A_ROW = 3
/** PINGs in a row under REDIS_SLOW_MS, one a second, that make it count as fast again. */
export const FAST_PINGS_TO_RECOVER = 3
/** How often a slow episode is logged at most; redis_slow shows every one. */
export const SLOW_LOG_EVERY_MS = 60_000

export interface LatencyOptions {
  /** REDIS_SLOW_MS: a round trip longer than this is slow */
  slowMs: number
  log: LinkLog
  /** told every command's round trip (redis_command_duration_seconds) */
  onCommand?: ((command: RedisCommand, ms: number) => void) | undefined
  /** told each time Redis starts or stops counting as slow (redis_slow) */
  onSlow?: ((slow: boolean) => void) | undefined
  /** time on a clock that never steps back (default performance.now) and the probe's timer */
  clock?: Clock
  logEveryMs?: number
}

const steadyClock: Clock = { now: () => performance.now(), ...unrefTimers }

/**
 * The link as the request path uses it: every command timed, and Redis that answers, but slowly,
 * treated like Redis that does not. After SLOW_IN_A_ROW commands over REDIS_SLOW_MS, `isUp()` is
 * false (the replica answers from its own memory and asks the vendor itself, without waiting on
 * Redis), waiters are told as when Redis goes down, and one warning says so (at most one a
 * minute). A PING a second, timed, brings it back after FAST_PINGS_TO_RECOVER fast ones.
 * Publishing needs Redis reachable only: no request waits on it.
 */
export function watchLatency (link: RedisLink, { slowMs, log, onCommand, onSlow, clock = steadyClock, logEveryMs = SLOW_LOG_EVERY_MS }: LatencyOptions) {
  const slowListeners = new Set<() => void>()
  let slow = false
  let slowInARow = 0
  let fastPings = 0
  let probe: unknown
  let closed = false
  let loggedAt = -Infinity
  let episodeLogged = false
  let unloggedEpisodes = 0

  function setSlow (next: boolean, roundTripMs: number): void {
    if (next === slow) return
    slow = next
    slowInARow = 0
    fastPings = 0
    onSlow?.(slow)
    if (slow) {
      if (clock.now() - loggedAt >= logEveryMs) {
        log.warn({ redis: 'slow', roundTripMs: Math.round(roundTripMs), slowMs, unloggedEpisodes },
          'Redis answers slower than REDIS_SLOW_MS: this replica answers from its own memory, without waiting on Redis, until it is fast again')
        loggedAt = clock.now()
        episodeLogged = true
        unloggedEpisodes = 0
      } else {
        episodeLogged = false
        unloggedEpisodes++
      }
      for (const listener of slowListeners) listener()
      scheduleProbe()
    } else if (episodeLogged) {
      log.info({ redis: 'fast', roundTripMs: Math.round(roundTripMs) }, 'Redis answers within REDIS_SLOW_MS again: cache, coalescing and rate limits are shared again')
    }
  }

  function observe (command: RedisCommand, ms: number): void {
    onCommand?.(command, ms)
    if (slow) return
    slowInARow = ms > slowMs ? slowInARow + 1 : 0
    if (slowInARow >= SLOW_IN_A_ROW) setSlow(true, ms)
  }

  async function timed<T> (command: RedisCommand, run: () => Promise<T>): Promise<T> {
    const started = clock.now()
    try {
      return await run()
    } finally {
      observe(command, clock.now() - started)
    }
  }

  function scheduleProbe (): void {
    if (closed || probe !== undefined) return
    probe = clock.setTimer(() => {
      probe = undefined
      ping().catch(() => {}).finally(() => { if (slow) scheduleProbe() })
    }, RECHECK_EVERY_MS)
  }

  async function ping (): Promise<void> {
    // down: the link's own PING brings it back; slowness is judged once it answers
    if (!link.isUp()) return
    const started = clock.now()
    try {
      await link.client.ping()
    } catch (error) {
      link.reportFailure(error)
      return
    } finally {
      onCommand?.('ping', clock.now() - started)
    }
    const ms = clock.now() - started
    fastPings = ms > slowMs ? 0 : fastPings + 1
    if (fastPings >= FAST_PINGS_TO_RECOVER) setSlow(false, ms)
  }

  return {
    client: link.client,
    commandTimeoutMs: link.commandTimeoutMs,
    /** true while Redis answers within REDIS_SLOW_MS: the request path may wait on it */
    isUp: (): boolean => link.isUp() && !slow,
    /** true while Redis answers, but slower than REDIS_SLOW_MS */
    isSlow: (): boolean => slow,
    /** the link's: slowness breaks no subscription, so a copy kept while slow is heard about as ever */
    hearingEpoch: link.hearingEpoch,
    reportFailure: link.reportFailure,
    /** told each time Redis goes down or turns slow: nobody should wait for it now */
    onDown (listener: () => void): void {
      link.onDown(listener)
      slowListeners.add(listener)
    },
    subscribe: link.subscribe,
    /** publishes when Redis is reachable, slow or not (nobody waits on it), timed */
    publish: async (channel: string, message: string): Promise<boolean> => link.isUp() && await timed('publish', () => link.publish(channel, message)),
    timed,
    connect: link.connect,
    async close (): Promise<void> {
      closed = true
      if (probe !== undefined) clock.clearTimer(probe)
      await link.close()
    }
  }
}

export type SharedLink = ReturnType<typeof watchLatency>
