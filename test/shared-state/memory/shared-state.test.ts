import t from 'tap'
import { loadConfig } from '../../../src/config/config.js'
import type { Outcome } from '../../../src/orders/outcome.js'
import { runInThisProcess } from '../../../src/shared-state/memory/coalescing.js'
import { createMemorySharedState } from '../../../src/shared-state/memory/shared-state.js'
import { order } from '../../orders/fixtures/read-through.js'

t.test('every seam in this process\'s memory, on the injected clock', async (t) => {
  let now = 1_000_000
  const state = createMemorySharedState(loadConfig({ CACHE_MAX_ENTRIES: '2' }), { now: () => now })
  await state.start()
  t.equal(state.isShared(), false, 'shared with nobody')
  t.equal(state.coalescing, runInThisProcess)

  const outcome: Outcome = { kind: 'order', order: order(54), storedAt: now, freshMs: 1000 }
  await state.outcomeStore.set('54:16327129', outcome, 1000)
  t.same(await state.outcomeStore.get('54:16327129'), { outcome, tier: 'memory', epoch: -1 }, 'kept in no epoch: nothing is shared')
  now += 1001
  t.equal(await state.outcomeStore.get('54:16327129'), undefined, 'gone when its time is up on that clock')
  for (const id of [1, 2, 3]) await state.outcomeStore.set(`${id}:16327129`, { ...outcome, order: order(id) }, 1000)
  t.equal(await state.outcomeStore.get('1:16327129'), undefined, 'CACHE_MAX_ENTRIES bounds it')

  const heard: number[] = []
  state.watchBus.onWake((orderId) => { heard.push(orderId) })
  state.watchBus.publishWake(7)
  t.same(heard, [7])

  const Store = state.rateLimitStore({ maxEntries: 1, now: () => now })
  const store = new Store({})
  const counts: number[] = []
  for (const key of ['a', 'a', 'b']) store.incr(key, (_error, result) => { counts.push(result!.current) }, 1000, 2)
  t.same(counts, [1, 2, 3], 'bounded: with one counter used up, a new client is answered as limited')

  const tokens = state.callTokens({ perSecond: 10, burst: 1, reserve: 0 })
  t.same([await tokens.take(false), await tokens.take(false)], [0, 100], 'the vendor call budget: this process\'s bucket')
  now += 100
  t.equal(await tokens.take(false), 0, 'refilled on that clock')
  await state.close()
})
