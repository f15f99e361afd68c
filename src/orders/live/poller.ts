import type { Clock } from './clock.js'
import type { PollDeferred, PollTurns } from './poll-turns.js'

/** What one poll came to: an answer, a failure the poller backs off from, or a poll the vendor call budget put off. */
export type PollResult = 'answered' | 'failed' | PollDeferred

export interface PollerOptions {
  /**
   * one poll; `refresh` asks for a vendor call even when the cache has the order (a wake asked
   * for it), ahead of the background polls; `admitted` is told once its vendor call got past the budget
   */
  poll: (refresh: boolean, admitted: () => void) => Promise<PollResult>
  /** between polls while they are answered */
  intervalMs: number
  /** the longest wait between polls while they fail */
  maxBackoffMs: number
  /** at most one refresh this often, however many wakes arrive */
  wakeIntervalMs: number
  clock: Clock
  /** told of a poll that threw; it counts as failed */
  onError: (error: unknown) => void
  /** where the polls no wake asked for wait their turn for the vendor call budget (none: each runs when due) */
  turns?: PollTurns | undefined
}

const isDeferred = (result: PollResult): result is PollDeferred => typeof result === 'object'

/**
 * The schedule of one watched key: a poll at once, then one per interval, the wait doubling
 * while polls fail up to the longest backoff. A wake brings the next poll forward as a refresh,
 * at most once per wake interval; a wake during a poll refreshes once that poll is done (it may
 * have started before the change). Never two polls at once; nothing more after stop().
 *
 * With turns, a poll that falls due waits its turn behind the other keys' (the vendor call
 * budget's line) and the interval counts from when it is done, so a long line stretches every
 * key's interval alike. A deferral is neither an answer nor a failure: a background poll keeps
 * its place in the line, a refresh is tried again when the budget said. A wake while the poll
 * waits in the line takes it out and refreshes instead.
 */
export class Poller {
  readonly #options: PollerOptions
  #timer: unknown
  /** takes this key's poll out of the line, while it waits there */
  #leaveLine: (() => void) | undefined
  #dueAt = 0
  /** the next poll is a refresh (a wake asked for it) */
  #refreshNext = false
  #inFlight = false
  /** a wake arrived during a poll: refresh once it is done */
  #wakePending = false
  #lastRefreshAt = -Infinity
  #failures = 0
  #stopped = false

  constructor (options: PollerOptions) {
    this.#options = options
  }

  get stopped (): boolean { return this.#stopped }

  start (): void {
    this.#schedule(0)
  }

  wake (): void {
    if (this.#stopped) return
    if (this.#inFlight) {
      this.#wakePending = true
      return
    }
    this.#leaveTheLine()
    this.#scheduleRefresh()
  }

  stop (): void {
    this.#stopped = true
    this.#leaveTheLine()
    if (this.#timer !== undefined) this.#options.clock.clearTimer(this.#timer)
    this.#timer = undefined
  }

  #leaveTheLine (): void {
    this.#leaveLine?.()
    this.#leaveLine = undefined
  }

  #scheduleRefresh (): void {
    const { clock, wakeIntervalMs } = this.#options
    this.#schedule(Math.max(0, this.#lastRefreshAt + wakeIntervalMs - clock.now()), true)
  }

  /** The next poll in `delayMs`, unless one is due sooner already (then only its refresh flag is raised). */
  #schedule (delayMs: number, refresh = false): void {
    if (this.#stopped || this.#inFlight || this.#leaveLine !== undefined) return
    const { clock } = this.#options
    const dueAt = clock.now() + delayMs
    if (this.#timer !== undefined) {
      if (this.#dueAt <= dueAt) { this.#refreshNext ||= refresh; return }
      clock.clearTimer(this.#timer)
    }
    this.#dueAt = dueAt
    this.#refreshNext ||= refresh
    this.#timer = clock.setTimer(() => { this.#due() }, delayMs)
  }

  /** The timer fired: a refresh (or any poll, without turns) runs now; any other waits its turn. */
  #due (): void {
    const { turns, onError } = this.#options
    const refresh = this.#refreshNext
    this.#timer = undefined
    this.#refreshNext = false
    if (refresh || turns === undefined) {
      this.#pollNow(refresh).catch(onError)
      return
    }
    this.#leaveLine = turns.take(async (admitted) => {
      const result = await this.#attempt(false, admitted)
      // put off: the line keeps this key's place
      if (isDeferred(result) && !this.#stopped) return result
      this.#leaveLine = undefined
      this.#done(result)
      return undefined
    })
  }

  async #pollNow (refresh: boolean): Promise<void> {
    const result = await this.#attempt(refresh, () => {})
    if (!isDeferred(result)) return this.#done(result)
    // nothing was asked: the same poll again once the budget may have a call, the wake throttle aside
    if (!this.#wakePending) this.#schedule(result.deferredMs, refresh)
    else this.#done(result)
  }

  async #attempt (refresh: boolean, admitted: () => void): Promise<PollResult> {
    const { clock, poll, onError } = this.#options
    this.#inFlight = true
    if (refresh) this.#lastRefreshAt = clock.now()
    try {
      return await poll(refresh, admitted)
    } catch (error) {
      onError(error)
      return 'failed'
    } finally {
      this.#inFlight = false
    }
  }

  /** After a poll: a wake that came meanwhile refreshes; else the next in one interval, or the backoff while polls fail. */
  #done (result: PollResult): void {
    const { intervalMs, maxBackoffMs } = this.#options
    if (!isDeferred(result)) this.#failures = result === 'answered' ? 0 : this.#failures + 1
    if (this.#stopped) return
    if (this.#wakePending) {
      this.#wakePending = false
      return this.#scheduleRefresh()
    }
    this.#schedule(this.#failures === 0 ? intervalMs : Math.min(maxBackoffMs, intervalMs * 2 ** this.#failures))
  }
}
