import type { Clock } from './clock.js'

/** What one poll came to: an answer, or a failure the poller backs off from. */
export type PollResult = 'answered' | 'failed'

export interface PollerOptions {
  /** one poll; `refresh` asks for a vendor call even when the cache has the order (a wake asked for it) */
  poll: (refresh: boolean) => Promise<PollResult>
  /** between polls while they are answered */
  intervalMs: number
  /** the longest wait between polls while they fail */
  maxBackoffMs: number
  /** at most one refresh this often, however many wakes arrive */
  wakeIntervalMs: number
  clock: Clock
  /** told of a poll that threw; it counts as failed */
  onError: (error: unknown) => void
}

/**
 * The schedule of one watched key: a poll at once, then one per interval, the wait doubling
 * while polls fail up to the longest backoff. A wake brings the next poll forward as a refresh,
 * at most once per wake interval; a wake during a poll refreshes once that poll is done (it may
 * have started before the change). Never two polls at once; nothing more after stop().
 */
export class Poller {
  readonly #options: PollerOptions
  #timer: unknown
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
    if (this.#inFlight) this.#wakePending = true
    else this.#scheduleRefresh()
  }

  stop (): void {
    this.#stopped = true
    if (this.#timer !== undefined) this.#options.clock.clearTimer(this.#timer)
    this.#timer = undefined
  }

  #scheduleRefresh (): void {
    const { clock, wakeIntervalMs } = this.#options
    this.#schedule(Math.max(0, this.#lastRefreshAt + wakeIntervalMs - clock.now()), true)
  }

  /** The next poll in `delayMs`, unless one is due sooner already (then only its refresh flag is raised). */
  #schedule (delayMs: number, refresh = false): void {
    if (this.#stopped || this.#inFlight) return
    const { clock } = this.#options
    const dueAt = clock.now() + delayMs
    if (this.#timer !== undefined) {
      if (this.#dueAt <= dueAt) { this.#refreshNext ||= refresh; return }
      clock.clearTimer(this.#timer)
    }
    this.#dueAt = dueAt
    this.#refreshNext ||= refresh
    this.#timer = clock.setTimer(() => { this.#poll().catch(this.#options.onError) }, delayMs)
  }

  async #poll (): Promise<void> {
    const { clock, poll, onError, intervalMs, maxBackoffMs } = this.#options
    const refresh = this.#refreshNext
    this.#timer = undefined
    this.#refreshNext = false
    this.#inFlight = true
    if (refresh) this.#lastRefreshAt = clock.now()
    let result: PollResult
    try {
      result = await poll(refresh)
    } catch (error) {
      onError(error)
      result = 'failed'
    }
    this.#inFlight = false
    this.#failures = result === 'answered' ? 0 : this.#failures + 1
    if (this.#stopped) return
    if (this.#wakePending) {
      this.#wakePending = false
      return this.#scheduleRefresh()
    }
    this.#schedule(this.#failures === 0 ? intervalMs : Math.min(maxBackoffMs, intervalMs * 2 ** this.#failures))
  }
}
