/** Time and timers as live tracking uses them, so tests drive them by hand. */
export interface Clock {
  now: () => number
  setTimer: (callback: () => void, ms: number) => unknown
  clearTimer: (timer: unknown) => void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (callback, ms) => setTimeout(callback, ms),
  clearTimer: (timer) => { clearTimeout(timer as NodeJS.Timeout) }
}

/** The timers of background work (renewals, flushes): unref'd, so they never keep the process up. */
export const unrefTimers: Pick<Clock, 'setTimer' | 'clearTimer'> = {
  setTimer: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimer: (timer) => { clearTimeout(timer as NodeJS.Timeout) }
}
