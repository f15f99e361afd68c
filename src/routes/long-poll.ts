import { systemClock, type Clock } from '../orders/live/clock.js'
import type { WatchChange } from '../orders/live/fan-out.js'
import type { Watchers } from '../orders/live/watchers.js'

/** The longest wait a long poll may ask for, in seconds; longer is clamped to it. */
export const MAX_WAIT_S = 30

// one preference of RFC 7240: `wait=N`, parameters after `;` ignored
const WAIT = /^wait\s*=\s*"?(\d{1,9})"?(?:\s*;.*)?$/i

/**
 * The `wait` preference of a Prefer header (RFC 7240), in whole seconds at most MAX_WAIT_S;
 * undefined when there is none, it is 0, or it is malformed (a preference not understood is ignored).
 */
export function preferredWait (header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined
  const preferences = (Array.isArray(header) ? header.join(',') : header).split(',')
  for (const preference of preferences) {
    const match = WAIT.exec(preference.trim())
    if (match === null) continue
    const seconds = Number(match[1])
    return seconds === 0 ? undefined : Math.min(seconds, MAX_WAIT_S)
  }
  return undefined
}

/** One held request: the order, machine and tag (the client's ETag) it waits on, for how long, and until when its client stays. */
export interface LongPoll {
  id: number
  machineNo: string
  tag: string
  timeoutMs: number
  /** aborts when the client leaves */
  signal?: AbortSignal
}

/**
 * The next change of this key whose tag differs from the client's, from the shared poller, or
 * undefined when the wait is over, the client left or watching closed (shutdown).
 */
export function nextChange (watchers: Pick<Watchers, 'watch'>, { id, machineNo, tag, timeoutMs, signal }: LongPoll, clock: Pick<Clock, 'setTimer' | 'clearTimer'> = systemClock): Promise<WatchChange | undefined> {
  return new Promise((resolve) => {
    let settled = false
    let unwatch = () => {}
    const finish = (change?: WatchChange) => {
      if (settled) return
      settled = true
      clock.clearTimer(timer)
      signal?.removeEventListener('abort', onAbort)
      unwatch()
      resolve(change)
    }
    const onAbort = () => { finish() }
    const timer = clock.setTimer(onAbort, timeoutMs)
    signal?.addEventListener('abort', onAbort)
    if (signal?.aborted === true) return finish()
    unwatch = watchers.watch(id, machineNo, (event) => { finish(event.type === 'change' ? event : undefined) }, tag)
    // told at once (the key already had a newer outcome): leave now that unwatch is known
    if (settled) unwatch()
  })
}
