import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import type { SharedLink } from './latency.js'
import { openMessage, sealMessage } from './messages.js'
import { fromStored, toStored, type OutcomeLimits } from './outcome-codec.js'
import type { Reject } from './rejections.js'
import type { Signer } from './signing.js'
import type { WatchBus } from '../../orders/live/bus.js'
import { createMemoryWatchBus } from '../memory/watch-bus.js'

/** Channels under the key prefix: a change a replica's poller saw, and a delivery callback's wake-up. */
export const CHANGES_CHANNEL = 'changes'
export const WAKES_CHANNEL = 'wakes'

const Change = z.object({ from: z.string(), key: z.string(), outcome: z.unknown() })
const Wake = z.object({ from: z.string(), orderId: z.number().int().positive() })

export interface RedisWatchBusOptions {
  link: SharedLink
  /** signs the messages, and opens the others' */
  signer: Signer
  /** this replica's CACHE_* freshness and clock: what an outcome in a change may claim at most */
  limits: OutcomeLimits
  /** counts and logs what is not taken */
  reject: Reject
}

/**
 * The watchers' bus across replicas: what is published here reaches this process's watchers at
 * once and every other replica's through Redis pub/sub (each ignores its own messages). A
 * change any replica's poller sees reaches the watchers everywhere; a callback received by one
 * replica wakes the pollers on all. While Redis is down the messages are lost and each replica
 * follows its orders with its own pollers, as one process does. A message is heard only when a
 * replica of this fleet signed it for its channel, recently; a change's outcome must be for the
 * key it names (src/shared-state/redis/outcome-codec.ts): a forged one ends no stream.
 */
export function createRedisWatchBus ({ link, signer, limits, reject }: RedisWatchBusOptions): WatchBus {
  const local = createMemoryWatchBus()
  const self = randomUUID()
  link.subscribe(CHANGES_CHANNEL, (message) => {
    const change = openMessage(signer, CHANGES_CHANNEL, message, Change, limits.now())
    if ('rejected' in change) return reject(change.rejected, 'changes message')
    if (change.value.from === self) return
    const outcome = fromStored(change.value.outcome, change.value.key, limits)
    if ('rejected' in outcome) return reject(outcome.rejected, 'changes message')
    local.publishChange(change.value.key, outcome.value)
  })
  link.subscribe(WAKES_CHANNEL, (message) => {
    const wake = openMessage(signer, WAKES_CHANNEL, message, Wake, limits.now())
    if ('rejected' in wake) return reject(wake.rejected, 'wakes message')
    if (wake.value.from !== self) local.publishWake(wake.value.orderId)
  })
  return {
    publishChange (key, outcome) {
      local.publishChange(key, outcome)
      // link.publish never rejects: a failure marks Redis down, and the message is lost
      link.publish(CHANGES_CHANNEL, sealMessage(signer, CHANGES_CHANNEL, { from: self, key, outcome: toStored(key, outcome) }, limits.now())).catch(() => {})
    },
    onChange: local.onChange,
    publishWake (orderId) {
      local.publishWake(orderId)
      link.publish(WAKES_CHANNEL, sealMessage(signer, WAKES_CHANNEL, { from: self, orderId }, limits.now())).catch(() => {})
    },
    onWake: local.onWake
  }
}
