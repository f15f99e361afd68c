import type { ServerResponse } from 'node:http'
import type { Clock } from '../orders/live/clock.js'

/** How long a stream's socket may stay undrained before the stream is closed as a slow reader. */
export const SLOW_READER_MS = 30_000

export interface EventWriterOptions {
  clock: Pick<Clock, 'setTimer' | 'clearTimer'>
  /** SLOW_READER_MS unless a test says */
  stallMs?: number
  /** told once when the socket stayed undrained for stallMs; the connection is destroyed right after */
  onStalled: () => void
  /** told the label of each frame handed to the socket; a pending frame replaced by a newer one never is */
  onWritten?: (label: string) => void
}

interface Frame {
  bytes: Buffer
  label: string
}

/**
 * Writes event frames to one stream without ever queueing more than one: while the socket has
 * not drained, a newer frame replaces the pending one (each `order` event is the whole order, so
 * only the newest matters), and a socket that stays undrained for stallMs is destroyed. What a
 * client that stops reading holds is then bounded: the response's buffer (under its high-water
 * mark plus the frame that crossed it) and one pending frame.
 */
export function createEventWriter (raw: ServerResponse, { clock, stallMs = SLOW_READER_MS, onStalled, onWritten }: EventWriterOptions) {
  let pending: Frame | undefined
  let stall: unknown
  let done = false

  const clearStall = () => {
    if (stall === undefined) return
    clock.clearTimer(stall)
    stall = undefined
  }
  const awaitDrain = () => {
    stall ??= clock.setTimer(() => {
      stall = undefined
      stop()
      onStalled()
      raw.destroy()
    }, stallMs)
  }
  const put = (frame: Frame) => {
    const drained = raw.write(frame.bytes)
    onWritten?.(frame.label)
    if (!drained) awaitDrain()
  }
  const onDrain = () => {
    clearStall()
    const frame = pending
    pending = undefined
    if (frame !== undefined) put(frame)
  }
  function stop () {
    if (done) return
    done = true
    clearStall()
    pending = undefined
    raw.off('drain', onDrain)
    raw.off('close', stop)
  }
  raw.on('drain', onDrain)
  raw.on('close', stop)

  return {
    /** Writes `bytes` now, or keeps them as the one pending frame until the socket drains; `label` is what onWritten is told. */
    write (bytes: Buffer, label: string): void {
      if (done) return
      const frame = { bytes, label }
      if (raw.writableNeedDrain) { pending = frame; awaitDrain() } else put(frame)
    },
    /**
     * Ends the response with `bytes` as its last frame, in one call (one write of the frame and
     * the end of the body); a pending frame is dropped, this one being newer. The stall watch
     * goes on until the socket closes.
     */
    end (bytes: Buffer, label: string): void {
      if (done) return
      pending = undefined
      raw.end(bytes)
      onWritten?.(label)
      if (raw.writableNeedDrain) awaitDrain()
    },
    /** Writes `bytes` only when nothing is waiting to reach the client (a heartbeat: the stream is known to be alive otherwise); false when skipped. */
    writeIfIdle (bytes: Buffer | string): boolean {
      if (done || pending !== undefined || raw.writableNeedDrain || raw.writableEnded) return false
      raw.write(bytes)
      return true
    },
    /** Writes the pending frame, if any, before the response ends (still bounded: one frame); the stall watch goes on until the socket closes. */
    flush (): void {
      if (done || pending === undefined) return
      const frame = pending
      pending = undefined
      put(frame)
      awaitDrain()
    },
    /** bytes waiting to reach the client: the response's and socket's buffers plus the pending frame */
    get bufferedBytes (): number { return raw.writableLength + (pending?.bytes.length ?? 0) }
  }
}
