import t from 'tap'
import type { Outcome } from '../../../src/orders/outcome.js'
import { createMemoryWatchBus } from '../../../src/shared-state/memory/watch-bus.js'
import { order } from '../../orders/fixtures/read-through.js'

const OUTCOME: Outcome = { kind: 'order', order: order(7), storedAt: 0, freshMs: 1000 }

t.test('a change reaches every handler at once, until it unsubscribes', async (t) => {
  const bus = createMemoryWatchBus()
  const heard: string[] = []
  const offA = bus.onChange((key, outcome) => { heard.push(`a ${key} ${outcome === OUTCOME}`) })
  bus.onChange((key) => { heard.push(`b ${key}`) })
  bus.publishChange('7:16327129', OUTCOME)
  t.same(heard, ['a 7:16327129 true', 'b 7:16327129'], 'both, before publishChange returns')
  offA()
  bus.publishChange('8:16327129', OUTCOME)
  t.same(heard.slice(2), ['b 8:16327129'])
})

t.test('wakes reach every wake handler, never the change handlers', async (t) => {
  const bus = createMemoryWatchBus()
  const woken: number[] = []
  const changes: string[] = []
  bus.onChange((key) => { changes.push(key) })
  const off = bus.onWake((orderId) => { woken.push(orderId) })
  bus.publishWake(7)
  off()
  bus.publishWake(8)
  t.same(woken, [7])
  t.same(changes, [])
})

t.test('a handler that unsubscribes while called does not cost the others their call', async (t) => {
  const bus = createMemoryWatchBus()
  const heard: string[] = []
  const off = bus.onChange(() => { heard.push('first'); off() })
  bus.onChange(() => { heard.push('second') })
  bus.publishChange('7:16327129', OUTCOME)
  bus.publishChange('7:16327129', OUTCOME)
  t.same(heard, ['first', 'second', 'second'])
})
