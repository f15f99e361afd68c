import type { Clock } from '../orders/live/clock.js'

export interface HeartbeatsOptions {
  /** between two beats */
  intervalMs: number
  clock: Pick<Clock, 'setTimer' | 'clearTimer'>
  /** streams beaten in one go before the rest wait for the next turn of the event loop */
  chunkSize?: number
  /** runs the next chunk on a later turn (default setImmediate) */
  later?: (next: () => void) => void
}

/** What a heartbeat is sent to: false when it was skipped (the stream has data waiting, which keeps it alive as well). */
export type Beat = () => boolean

/**
 * One timer for the heartbeats of every open stream, instead of an interval per stream: opening
 * and ending a stream cost a Set entry, not a timer, and a beat goes to the streams a chunk at a
 * time so that requests are still answered while 10,000 comments go out. The timer runs only
 * while some stream is open. Every stream gets a beat at least every intervalMs.
 */
export function createHeartbeats ({ intervalMs, clock, chunkSize = 256, later = setImmediate }: HeartbeatsOptions) {
  const streams = new Set<Beat>()
  let timer: unknown

  const tick = () => {
    timer = undefined
    const all = [...streams]
    let next = 0
    const chunk = () => {
      for (const end = Math.min(all.length, next + chunkSize); next < end; next++) {
        const beat = all[next]!
        if (streams.has(beat)) beat()
      }
      if (next < all.length) later(chunk)
    }
    chunk()
    schedule()
  }
  const schedule = () => {
    if (timer === undefined && streams.size > 0) timer = clock.setTimer(tick, intervalMs)
  }

  return {
    /** Adds a stream; returns the function that removes it. */
    add (beat: Beat): () => void {
      streams.add(beat)
      schedule()
      return () => {
        streams.delete(beat)
        if (streams.size === 0 && timer !== undefined) {
          clock.clearTimer(timer)
          timer = undefined
        }
      }
    },
    get size () { return streams.size }
  }
}

export type Heartbeats = ReturnType<typeof createHeartbeats>
