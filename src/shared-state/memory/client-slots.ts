import type { ClientSlots } from '../../routes/stream-slots.js'

/**
 * EVENTS_MAX_PER_CLIENT in this process alone: a count per client, dropped at zero so the map
 * holds only the clients with something open. Also where a replica on Redis counts while Redis
 * is down or slow.
 */
export function createMemoryClientSlots (max: number): ClientSlots {
  const held = new Map<string, number>()
  return {
    async take (client) {
      const count = held.get(client) ?? 0
      if (count >= max) return undefined
      held.set(client, count + 1)
      let given = false
      return () => {
        if (given) return
        given = true
        const left = (held.get(client) ?? 1) - 1
        if (left === 0) held.delete(client)
        else held.set(client, left)
      }
    }
  }
}
