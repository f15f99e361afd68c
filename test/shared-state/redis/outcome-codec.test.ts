import t from 'tap'
import { AppError } from '../../../src/errors/catalogue.js'
import type { Outcome } from '../../../src/orders/outcome.js'
import { CLOCK_SKEW_MS, decodeOutcome, encodeOutcome, fromStored, toStored } from '../../../src/shared-state/redis/outcome-codec.js'
import { order } from '../../orders/fixtures/read-through.js'
import { FRESHNESS } from './fixtures/trust.js'

const KEY = '54:16327129'
const NOW = 1_700_000_000_000
const LIMITS = { freshness: FRESHNESS, now: () => NOW }

t.test('an order goes through Redis unchanged', async (t) => {
  const outcome: Outcome = { kind: 'order', order: order(54, true, 3), storedAt: NOW - 5, freshMs: FRESHNESS.terminalMs }
  t.same(decodeOutcome(encodeOutcome(KEY, outcome), KEY, LIMITS), { value: outcome })
})

t.test('a kept error goes as its key and codes, no words, and comes back an AppError in the reader\'s own words', async (t) => {
  const error = new AppError('ORDER_NOT_FOUND', { detail: 'No order 54 on machine 16327129.', vendorCode: 80002 })
  const stored = toStored(KEY, { kind: 'error', error, storedAt: 5, freshMs: 2000 })
  t.same(JSON.parse(JSON.stringify(stored)), { key: KEY, kind: 'error', code: 'ORDER_NOT_FOUND', vendorCode: 80002, storedAt: 5, freshMs: 2000 }, 'no detail, no stack, nothing else of the error')
  const back = decodeOutcome(JSON.stringify(stored), KEY, LIMITS)
  if (!('value' in back) || back.value.kind !== 'error') return t.fail('expected a kept error')
  t.ok(back.value.error instanceof AppError)
  t.match(back.value.error, { code: 'ORDER_NOT_FOUND', detail: 'The vendor has no such order.', vendorCode: 80002 })
  t.same([back.value.storedAt, back.value.freshMs], [5, 2000])

  // what an earlier version (or whoever signs in a replica's place) wrote: its words never reach a caller
  const foreign = decodeOutcome(JSON.stringify({ ...stored, detail: 'forged words' }), KEY, LIMITS)
  if (!('value' in foreign) || foreign.value.kind !== 'error') return t.fail('expected a kept error')
  t.equal(foreign.value.error.detail, 'The vendor has no such order.', 'a stored detail is ignored')
  t.equal(rejectedReason({ ...stored, vendorCode: -1 }), 'schema', 'a vendor code out of range')
})

function rejectedReason (json: unknown): string | undefined {
  const read = fromStored(json, KEY, LIMITS)
  return 'rejected' in read ? read.rejected : undefined
}

t.test('what does not parse is nothing, never a wrong outcome', async (t) => {
  const times = { storedAt: 5, freshMs: 2000 }
  const rejected = (json: unknown): string => {
    const read = fromStored(json, KEY, LIMITS)
    return 'rejected' in read ? read.rejected : 'taken'
  }
  t.same(decodeOutcome('not json', KEY, LIMITS), { rejected: 'schema' })
  t.same(decodeOutcome('null', KEY, LIMITS), { rejected: 'schema' })
  t.equal(rejected({ key: KEY, kind: 'error', code: 'MACHINE_OFFLINE', detail: 'x', ...times }), 'schema', 'an error kind that is never kept')
  t.equal(rejected({ key: KEY, kind: 'error', code: 'NO_SUCH_CODE', detail: 'x', ...times }), 'schema')
  t.equal(rejected({ key: KEY, kind: 'order', order: { ...order(54), status: 42 }, ...times }), 'schema', 'an order that is not ours')
  t.equal(rejected({ key: KEY, kind: 'order', order: order(54), storedAt: 5 }), 'schema', 'without its freshness')
  t.equal(rejected({ key: KEY, kind: 'order', order: order(54), storedAt: 5, freshMs: -1 }), 'schema')
  t.equal(rejected({ kind: 'order', order: order(54), ...times }), 'schema', 'without its key: an older version\'s')
})

t.test('it must be for the key it is read under: order id and machine', async (t) => {
  const times = { storedAt: NOW, freshMs: 1000 }
  t.same(fromStored({ key: KEY, kind: 'order', order: order(99), ...times }, KEY, LIMITS), { rejected: 'mismatch' }, 'another order under this key')
  t.same(fromStored({ key: '54:16327128', kind: 'order', order: order(54), ...times }, KEY, LIMITS), { rejected: 'mismatch' }, 'another machine\'s')
  t.same(fromStored({ key: '99:16327129', kind: 'error', code: 'ORDER_NOT_FOUND', detail: 'x', ...times }, KEY, LIMITS), { rejected: 'mismatch' }, 'another key\'s kept error')
})

t.test('its time: not later than now beyond the skew allowance, and taken as now within it', async (t) => {
  const at = (storedAt: number) => fromStored({ key: KEY, kind: 'order', order: order(54), storedAt, freshMs: 1000 }, KEY, LIMITS)
  t.same(at(NOW + CLOCK_SKEW_MS + 1), { rejected: 'future' })
  t.same(at(NOW + 315_360_000_000), { rejected: 'future' }, 'ten years ahead')
  t.match(at(NOW + CLOCK_SKEW_MS), { value: { storedAt: NOW } })
  t.match(at(NOW - 60_000), { value: { storedAt: NOW - 60_000 } }, 'a past one as it is: freshness decides')
})

t.test('its freshness: at most what this replica\'s CACHE_* give that kind of outcome', async (t) => {
  const ten = 315_360_000_000
  const fresh = (stored: object) => (fromStored({ key: KEY, storedAt: NOW, freshMs: ten, ...stored }, KEY, LIMITS) as { value: Outcome }).value.freshMs
  t.equal(fresh({ kind: 'order', order: order(54) }), FRESHNESS.freshMs, 'an order that can change: CACHE_FRESH_MS')
  t.equal(fresh({ kind: 'order', order: order(54, true) }), FRESHNESS.terminalMs, 'a terminal one: CACHE_TERMINAL_MS')
  t.equal(fresh({ kind: 'error', code: 'ORDER_NOT_FOUND', detail: 'x' }), FRESHNESS.notFoundMs, 'not found: CACHE_NOT_FOUND_MS')
  t.equal(fresh({ kind: 'error', code: 'ORDER_EXPIRED', detail: 'x' }), FRESHNESS.terminalMs, 'expired: CACHE_TERMINAL_MS')
  t.equal(fresh({ kind: 'order', order: order(54), freshMs: 10 }), 10, 'a shorter one as it is')
})
