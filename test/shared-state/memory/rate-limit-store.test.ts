import t from 'tap'
import { BoundedRateLimitStore, BYTES_PER_ENTRY, DEFAULT_MAX_ENTRIES, STORE_BUDGET_BYTES } from '../../../src/shared-state/memory/rate-limit-store.js'

const WINDOW = 1000
const MAX = 2

/** A store on a fake clock, and incr as a plain function. */
function storeAt (maxEntries: number) {
  const clock = { now: 0 }
  const store = new BoundedRateLimitStore({ maxEntries, now: () => clock.now })
  const hit = (key: string) => {
    let result: { current: number, ttl: number } | undefined
    store.incr(key, (error, res) => {
      if (error !== null) throw error
      result = res
    }, WINDOW, MAX)
    return result!
  }
  return { clock, store, hit }
}

t.test('counts within the window and starts again when it ends', async (t) => {
  const { clock, hit } = storeAt(10)
  t.same(hit('a'), { current: 1, ttl: 1000 })
  clock.now = 300
  t.same(hit('a'), { current: 2, ttl: 700 })
  t.same(hit('a'), { current: 3, ttl: 700 }, 'over the limit, with the time left')
  t.same(hit('b'), { current: 1, ttl: 1000 }, 'another key has its own window')
  clock.now = 1000
  t.same(hit('a'), { current: 1, ttl: 1000 }, 'a new window')
  t.same(hit('b'), { current: 2, ttl: 300 })
})

t.test('a full store makes room by dropping expired counters first', async (t) => {
  const { clock, store, hit } = storeAt(2)
  hit('a')
  clock.now = 500
  hit('b')
  clock.now = 1000
  t.same(hit('c'), { current: 1, ttl: 1000 })
  t.equal(store.size, 2, 'a expired and made room')
  t.same(hit('b'), { current: 2, ttl: 500 }, 'b, still in its window, kept its count')
})

t.test('a full store evicts the oldest client under its limit, never one that used up its budget', async (t) => {
  const { store, hit } = storeAt(3)
  hit('limited')
  hit('limited')
  hit('under-1')
  hit('under-2')
  let countedFromOne = 0
  for (let i = 0; i < 5000; i++) if (hit(`new-${i}`).current === 1) countedFromOne++
  t.equal(countedFromOne, 5000, 'every new client is counted from 1')
  t.equal(store.size, 3, 'the store never grows past maxEntries')
  t.same(hit('limited'), { current: 3, ttl: 1000 }, 'the client at its limit is still limited')
  t.equal(hit('under-1').current, 1, 'a client under its limit was evicted: at worst it gets a fresh budget')
})

t.test('when every counter has used up its budget, a new client is limited until the oldest expires', async (t) => {
  const { clock, store, hit } = storeAt(2)
  hit('a')
  hit('a')
  clock.now = 100
  hit('b')
  hit('b')
  clock.now = 400
  t.same(hit('newcomer'), { current: MAX + 1, ttl: 600 }, 'limited, told to come back when a expires')
  t.same(hit('a'), { current: 3, ttl: 600 }, 'a was not reset')
  t.same(hit('b'), { current: 3, ttl: 700 }, 'nor b')
  t.equal(store.size, 2)
  clock.now = 1000
  t.same(hit('newcomer'), { current: 1, ttl: 1000 }, 'a expired: the newcomer has a counter')
  t.same(hit('b'), { current: 4, ttl: 100 }, 'b is still limited')
})

t.test('the default size follows the memory budget', async (t) => {
  t.equal(DEFAULT_MAX_ENTRIES, Math.floor(STORE_BUDGET_BYTES / BYTES_PER_ENTRY))
  t.ok(DEFAULT_MAX_ENTRIES > 65_536, 'room for every /64 of an IPv6 /48')
  const { store } = storeAt(1)
  t.type(store.child(), BoundedRateLimitStore, 'a route with its own limit gets a store of the same kind')
  t.throws(() => new BoundedRateLimitStore({ maxEntries: 0 }), RangeError, 'a store that can hold nobody is a mistake')
})
