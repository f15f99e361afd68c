import t from 'tap'
import { AppError, ERROR_KINDS, type ErrorCode } from '../../../src/errors/catalogue.js'
import type { Outcome } from '../../../src/orders/outcome.js'
import { isFinal, outcomeTag } from '../../../src/orders/live/predicates.js'
import { representationOf } from '../../../src/orders/representation.js'
import { order } from '../fixtures/read-through.js'

const orderOutcome = (terminal: boolean): Outcome => ({ kind: 'order', order: order(1, terminal), storedAt: 0, freshMs: 1000 })
const errorOutcome = (code: ErrorCode): Outcome => ({ kind: 'error', error: new AppError(code), storedAt: 0, freshMs: 0 })

t.test('the tag: the order\'s ETag, or the problem\'s code', async (t) => {
  const outcome = orderOutcome(false)
  t.equal(outcomeTag(outcome), representationOf(order(1)).etag, 'the ETag GET /orders/:id sends')
  t.not(outcomeTag(outcome), outcomeTag(orderOutcome(true)), 'another order, another tag')
  t.equal(outcomeTag(errorOutcome('ORDER_EXPIRED')), 'problem:ORDER_EXPIRED')
})

t.test('final: a terminal order, or an error the catalogue calls final', async (t) => {
  t.equal(isFinal(orderOutcome(false)), false)
  t.equal(isFinal(orderOutcome(true)), true)
  for (const code of Object.keys(ERROR_KINDS) as ErrorCode[]) {
    t.equal(isFinal(errorOutcome(code)), ERROR_KINDS[code].final, code)
  }
  t.same((Object.keys(ERROR_KINDS) as ErrorCode[]).filter((code) => isFinal(errorOutcome(code))).sort(),
    ['MACHINE_NOT_FOUND', 'ORDER_EXPIRED', 'ORDER_NOT_FOUND'], 'no such order or machine, or expired')
})
