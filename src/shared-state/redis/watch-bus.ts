import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import type { RedisLink } from './link.js'
import { fromStored, toStored } from './outcome-codec.js'
import type { WatchBus } from '../../orders/live/bus.js'
import { createMemoryWatchBus } from '../memory/watch-bus.js'

/** Channels under the key prefix: a change a replica's poller saw, and a delivery callback's wake-up. */
export const CHANGES_CHANNEL = 'changes'
export const WAKES_CHANNEL = 'wakes'

const Change = z.object({ from: z.string(), key: z.string(), outcome: z.unknown() })
const Wake = z.object({ from: z.string(), orderId: z.number().int().positive() })

function parse<T> (schema: z.ZodType<T>, message: string): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(message))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

/**
 * The watchers' bus across replicas: what is published here reaches this process's watchers at
 * once and every other replica's through Redis pub/sub (each ignores its own messages). A
 * change any replica's poller sees reaches the watchers everywhere; a callback received by one
 * replica wakes the pollers on all. While Redis is down the messages are lost and each replica
 * follows its orders with its own pollers, as one process does.
 */
export function createRedisWatchBus (link: RedisLink): WatchBus {
  const local = createMemoryWatchBus()
  const self = randomUUID()
  link.subscribe(CHANGES_CHANNEL, (message) => {
    const change = parse(Change, message)
    const outcome = change === undefined || change.from === self ? undefined : fromStored(change.outcome)
    if (outcome !== undefined) local.publishChange(change!.key, outcome)
  })
  link.subscribe(WAKES_CHANNEL, (message) => {
    const wake = parse(Wake, message)
    if (wake !== undefined && wake.from !== self) local.publishWake(wake.orderId)
  })
  return {
    publishChange (key, outcome) {
      local.publishChange(key, outcome)
      // link.publish never rejects: a failure marks Redis down, and the message is lost
      link.publish(CHANGES_CHANNEL, JSON.stringify({ from: self, key, outcome: toStored(outcome) })).catch(() => {})
    },
    onChange: local.onChange,
    publishWake (orderId) {
      local.publishWake(orderId)
      link.publish(WAKES_CHANNEL, JSON.stringify({ from: self, orderId })).catch(() => {})
    },
    onWake: local.onWake
  }
}
