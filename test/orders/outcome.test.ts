import t from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import { isFinal, supersedes, type Outcome } from '../../src/orders/outcome.js'
import { order } from './fixtures/read-through.js'

const at = (storedAt: number, terminal = false): Outcome => ({ kind: 'order', order: order(54, terminal), storedAt, freshMs: 1000 })
const expired = (storedAt: number): Outcome => ({ kind: 'error', error: new AppError('ORDER_EXPIRED', { detail: 'Expired.' }), storedAt, freshMs: 1000 })
const notFound = (storedAt: number): Outcome => ({ kind: 'error', error: new AppError('ORDER_NOT_FOUND', { detail: 'None.' }), storedAt, freshMs: 1000 })

t.test('final: a terminal order, or the answer that the order expired', async (t) => {
  t.same([at(0, true), expired(0), at(0), notFound(0)].map(isFinal), [true, true, false, false])
})

t.test('an outcome takes the place of a kept one only when it is newer, or as new and final where the kept one is not', async (t) => {
  t.ok(supersedes(at(2), at(1)), 'a later answer')
  t.notOk(supersedes(at(1), at(2)), 'an earlier answer, arriving late')
  t.notOk(supersedes(at(1), at(2, true)), 'an earlier answer never replaces a terminal order')
  t.ok(supersedes(at(3), at(2, true)), 'a later answer does (the vendor said so)')
  t.notOk(supersedes(at(2), at(2)), 'as old: the kept one stays (its representation is reused)')
  t.ok(supersedes(at(2, true), at(2)), 'as old, terminal over not')
  t.notOk(supersedes(at(2), at(2, true)), 'as old, not terminal over terminal')
  t.ok(supersedes(expired(2), at(2)), 'as old, expired over a live order')
  t.notOk(supersedes(notFound(2), at(2)), 'as old, not found is no more final than an order')
})
