import t from 'tap'
import { AppError } from '../../../src/errors/catalogue.js'
import type { Outcome } from '../../../src/orders/outcome.js'
import { decodeOutcome, encodeOutcome, fromStored, toStored } from '../../../src/shared-state/redis/outcome-codec.js'
import { order } from '../../orders/fixtures/read-through.js'

t.test('an order goes through Redis unchanged', async (t) => {
  const outcome: Outcome = { kind: 'order', order: order(54, true, 3), storedAt: 1_700_000_000_000, freshMs: 300_000 }
  t.same(decodeOutcome(encodeOutcome(outcome)), outcome)
})

t.test('a kept error goes as its code, detail and vendor code, and comes back an AppError', async (t) => {
  const error = new AppError('ORDER_NOT_FOUND', { detail: 'No order 54 on machine 16327129.', vendorCode: 80002 })
  const stored = toStored({ kind: 'error', error, storedAt: 5, freshMs: 2000 })
  t.same(JSON.parse(JSON.stringify(stored)), { kind: 'error', code: 'ORDER_NOT_FOUND', detail: 'No order 54 on machine 16327129.', vendorCode: 80002, storedAt: 5, freshMs: 2000 }, 'no stack, nothing else of the error')
  const back = decodeOutcome(JSON.stringify(stored))
  if (back?.kind !== 'error') return t.fail('expected a kept error')
  t.ok(back.error instanceof AppError)
  t.match(back.error, { code: 'ORDER_NOT_FOUND', detail: 'No order 54 on machine 16327129.', vendorCode: 80002 })
  t.same([back.storedAt, back.freshMs], [5, 2000])
})

t.test('what does not parse is nothing, never a wrong outcome', async (t) => {
  const times = { storedAt: 5, freshMs: 2000 }
  t.equal(decodeOutcome('not json'), undefined)
  t.equal(decodeOutcome('null'), undefined)
  t.equal(fromStored({ kind: 'error', code: 'MACHINE_OFFLINE', detail: 'x', ...times }), undefined, 'an error kind that is never kept')
  t.equal(fromStored({ kind: 'error', code: 'NO_SUCH_CODE', detail: 'x', ...times }), undefined)
  t.equal(fromStored({ kind: 'order', order: { ...order(54), status: 42 }, ...times }), undefined, 'an order that is not ours')
  t.equal(fromStored({ kind: 'order', order: order(54), storedAt: 5 }), undefined, 'without its freshness')
  t.equal(fromStored({ kind: 'order', order: order(54), storedAt: 5, freshMs: -1 }), undefined)
})
