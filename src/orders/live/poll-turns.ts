import type { Clock } from './clock.js'

/** The vendor call budget put a poll off: it may be tried again in `deferredMs`. */
export interface PollDeferred {
  deferredMs: number
}

/**
 * One poll's go at the vendor: resolves when it is done, or with a deferral when the budget put
 * it off. It calls `admitted` once its vendor call got past the budget.
 */
export type Turn = (admitted: () => void) => Promise<PollDeferred | undefined>

export interface PollTurns {
  /** queues `turn` behind every turn queued before it; the returned function takes it out (a poll that stopped, or a wake that runs it now) */
  take: (turn: Turn) => () => void
  /** turns queued, not yet started */
  readonly waiting: number
  /** drops every queued turn and the timers (shutdown) */
  close: () => void
}

export interface PollTurnsOptions {
  clock: Clock
  /** turns started and not yet past the budget at a time (default 4) */
  parallel?: number
  /** a started turn that has neither got past the budget nor ended by then no longer holds up the next (default 100 ms): it may be waiting on another replica's call */
  stallMs?: number
}

interface Queued {
  /** its place in the line, kept through deferrals */
  ticket: number
  turn: Turn
  cancelled: boolean
}

/**
 * The background polls of one process, in one line for the vendor call budget: first come,
 * first served. A few start at a time; the next starts as soon as one got past the budget (or
 * ended: a cache hit needs no call). A poll the budget put off goes back to its place at the
 * head of the line, and no turn starts until the budget may have a call again. So when more
 * orders are watched than the budget allows every CACHE_FRESH_MS, each order waits its turn
 * behind the others: every one is polled, each as often as the others (round robin), and none
 * starves, however the budget's calls are shared with requests, wake-ups and other replicas.
 */
export function createPollTurns ({ clock, parallel = 4, stallMs = 100 }: PollTurnsOptions): PollTurns {
  const line: Queued[] = []
  let tickets = 0
  let starting = 0
  let pausedUntil = -Infinity
  let pause: unknown
  let closed = false

  /** Back in the line at its ticket's place: ahead of everything queued after it. */
  function requeue (queued: Queued): void {
    let low = 0
    let high = line.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (line[middle]!.ticket < queued.ticket) low = middle + 1
      else high = middle
    }
    line.splice(low, 0, queued)
  }

  function pauseFor (ms: number): void {
    const until = clock.now() + ms
    if (until <= pausedUntil) return
    pausedUntil = until
    if (pause !== undefined) clock.clearTimer(pause)
    pause = clock.setTimer(() => { pause = undefined; startNext() }, ms)
  }

  /** Starts turns from the head of the line while it is not paused and fewer than `parallel` are starting. */
  function startNext (): void {
    for (;;) {
      if (closed || pause !== undefined || starting >= parallel) return
      const next = line.shift()
      if (next === undefined) return
      start(next)
    }
  }

  function start (queued: Queued): void {
    starting += 1
    let holding = true
    const stall = clock.setTimer(() => { letNextGo() }, stallMs)
    function letNextGo (): void {
      if (!holding) return
      holding = false
      clock.clearTimer(stall)
      starting -= 1
      startNext()
    }
    const settle = (deferred: PollDeferred | undefined): void => {
      if (deferred !== undefined && !queued.cancelled && !closed) {
        requeue(queued)
        pauseFor(deferred.deferredMs)
      }
      letNextGo()
    }
    queued.turn(letNextGo).then(settle, () => { settle(undefined) })
  }

  return {
    take (turn) {
      const queued: Queued = { ticket: tickets++, turn, cancelled: false }
      line.push(queued)
      startNext()
      return () => {
        queued.cancelled = true
        const at = line.indexOf(queued)
        if (at !== -1) line.splice(at, 1)
      }
    },
    get waiting () { return line.length },
    close () {
      closed = true
      line.length = 0
      if (pause !== undefined) clock.clearTimer(pause)
      pause = undefined
    }
  }
}
