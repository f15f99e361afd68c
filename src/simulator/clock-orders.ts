import { FINISHED_AFTER_MS, RESTART_AFTER_MS } from './scenarios.js'

/** setTimeout and clearTimeout, injectable so tests drive the clock orders with a fake clock. */
export interface Scheduler {
  /** runs `fn` after `ms`; what fn returns is the scheduler's business (a fake one may await it) */
  setTimeout (fn: () => unknown, ms: number): unknown
  clearTimeout (handle: unknown): void
}

/** Node's timers, unref'd: a pending run never keeps a process alive. */
export const REAL_SCHEDULER: Scheduler = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => { clearTimeout(handle as NodeJS.Timeout) }
}

export interface ClockOrdersOptions {
  now: () => number
  scheduler: Scheduler
  /** a run reached its final phase; called once per run, whoever is asking at the time */
  onFinished: (orderId: string, machineNo: string) => unknown
  /** a run was final for RESTART_AFTER_MS and is forgotten: the next question starts a new one */
  onRestarted?: (orderId: string, machineNo: string) => unknown
}

export interface ClockOrders {
  /**
   * How far into its run the clock order is. The first question starts the run; so does the
   * first one after the order has been final for RESTART_AFTER_MS, when a timer forgets the run.
   */
  elapsedMs (orderId: string, machineNo: string): number
  /** forgets every run and cancels its timer (admin reset, app close) */
  clear (): void
}

interface Run {
  startedAt: number
  timer: unknown
}

/** The runs of the clock orders, one per (order, machine), each with a timer for its end, then one for its restart. */
export function createClockOrders ({ now, scheduler, onFinished, onRestarted }: ClockOrdersOptions): ClockOrders {
  const runs = new Map<string, Run>()

  function finishLater (key: string, run: Run, orderId: string, machineNo: string): void {
    run.timer = scheduler.setTimeout(() => {
      if (runs.get(key) !== run) return
      // a timer may fire a hair before the clock says so: whoever the notification wakes must see the final phase
      const left = FINISHED_AFTER_MS - (now() - run.startedAt)
      if (left > 0) return finishLater(key, run, orderId, machineNo)
      restartLater(key, run, orderId, machineNo)
      return onFinished(orderId, machineNo)
    }, Math.max(0, FINISHED_AFTER_MS - (now() - run.startedAt)))
  }

  // without it, whoever keeps the final answer (the service, for CACHE_TERMINAL_MS) would never ask again
  function restartLater (key: string, run: Run, orderId: string, machineNo: string): void {
    run.timer = scheduler.setTimeout(() => {
      if (runs.get(key) !== run) return
      runs.delete(key)
      return onRestarted?.(orderId, machineNo)
    }, RESTART_AFTER_MS)
  }

  return {
    elapsedMs (orderId, machineNo) {
      const key = `${machineNo}/${orderId}`
      const at = now()
      const current = runs.get(key)
      if (current !== undefined && at - current.startedAt < FINISHED_AFTER_MS + RESTART_AFTER_MS) {
        return at - current.startedAt
      }
      if (current !== undefined) scheduler.clearTimeout(current.timer)
      const run: Run = { startedAt: at, timer: undefined }
      runs.set(key, run)
      finishLater(key, run, orderId, machineNo)
      return 0
    },
    clear () {
      for (const run of runs.values()) scheduler.clearTimeout(run.timer)
      runs.clear()
    }
  }
}
