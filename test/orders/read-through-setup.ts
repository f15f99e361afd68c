import { createMemoryOutcomeStore } from '../../src/orders/outcome-store.js'
import type { Served } from '../../src/orders/outcome.js'
import { createReadThrough } from '../../src/orders/read-through.js'
import type { Order } from '../../src/orders/schema.js'
import type { VendorLog } from '../../src/upstream/client.js'

export const MiB = 1024 * 1024
export const OPTIONS = { maxEntries: 100, maxBytes: 64 * MiB, freshMs: 1000, terminalMs: 300_000, notFoundMs: 2000, staleMs: 60_000 }

const QUIET: VendorLog = { info: () => {}, warn: () => {}, error: () => {} }

export function order (id: number, terminal = false, lines = 0): Order {
  const items = Array.from({ length: lines }, (_, i) => ({ id: id * 10_000 + i, productId: 121, quantity: 1, price: '1.00', status: 'IS_SUCCESS' as const, notifySent: true }))
  return { id, tradeId: null, date: null, amount: '1.00', status: terminal ? 'CLOSED' : 'NOTPAY', notifySendCount: 0, pickupCodeId: null, terminal, items }
}

/** A memory store and the read-through over it on a hand-driven clock, with a loader that counts its calls and answers what it is told. */
export function setup (options: Partial<typeof OPTIONS> & { purgeEveryMs?: number } = {}) {
  let now = 1_000_000
  const calls: string[] = []
  let next: (id: number) => Promise<Order> = async (id) => order(id)
  const settings = { ...OPTIONS, ...options, now: () => now }
  const store = createMemoryOutcomeStore(settings)
  const readThrough = createReadThrough({ store, rules: settings, now: settings.now, load: async (i, m) => { calls.push(`${i}:${m}`); return await next(i) } })
  const get = (id: number, machine = '16327129') => readThrough(id, machine, QUIET)
  return { store, get, calls, tick: (ms: number) => { now += ms }, answer: (f: typeof next) => { next = f } }
}

/** The order served; throws when a kept error was served instead. */
export function orderOf (served: Served): Order {
  if (served.outcome.kind !== 'order') throw new Error(`expected an order, got ${served.outcome.error.code}`)
  return served.outcome.order
}
