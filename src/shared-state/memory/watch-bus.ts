import type { WatchBus } from '../../orders/live/bus.js'
import type { Outcome } from '../../orders/outcome.js'

/** The in-process bus: publishing calls every handler at once. */
export function createMemoryWatchBus (): WatchBus {
  const changes = new Set<(key: string, outcome: Outcome) => void>()
  const wakes = new Set<(orderId: number) => void>()
  return {
    publishChange: (key, outcome) => { for (const handler of [...changes]) handler(key, outcome) },
    onChange: (handler) => { changes.add(handler); return () => { changes.delete(handler) } },
    publishWake: (orderId) => { for (const handler of [...wakes]) handler(orderId) },
    onWake: (handler) => { wakes.add(handler); return () => { wakes.delete(handler) } }
  }
}
