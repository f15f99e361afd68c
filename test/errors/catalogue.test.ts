import t from 'tap'
import { AppError, ERROR_KINDS, isAppError, type ErrorCode } from '../../src/errors/catalogue.js'

const CODES = Object.keys(ERROR_KINDS) as ErrorCode[]

t.test('every kind is a problem status with a title', async (t) => {
  for (const code of CODES) {
    const { status, title } = ERROR_KINDS[code]
    t.ok(status >= 400 && status < 600, `${code}: ${status}`)
    t.ok(title.length > 0, `${code} has a title`)
  }
})

t.test('the rules that must agree with each other', async (t) => {
  for (const code of CODES) {
    const kind = ERROR_KINDS[code]
    // a final answer is one the vendor gave about the order, so it is kept, and never a vendor fault
    if (kind.final) t.ok(kind.cache !== undefined && !kind.breaker && !kind.staleIfError, `${code}: final, kept, not a fault`)
    // only vendor faults are retried or served stale over
    if (kind.retry !== false) t.ok(kind.breaker && kind.staleIfError, `${code}: retried only as a vendor fault`)
    // a Retry-After goes with answers that say "later": 429 and 503
    if (kind.retryAfterS !== undefined) t.ok(kind.status === 429 || kind.status === 503, `${code}: Retry-After on a ${kind.status}`)
    if (kind.status === 503) t.ok(kind.retryAfterS !== undefined, `${code}: a 503 says when to come back`)
  }
  t.same(CODES.filter((code) => ERROR_KINDS[code].final), ['ORDER_NOT_FOUND', 'MACHINE_NOT_FOUND', 'ORDER_EXPIRED'])
})

t.test('an AppError takes its kind\'s status, title and Retry-After unless told otherwise', async (t) => {
  const offline = new AppError('MACHINE_OFFLINE')
  t.match(offline, { code: 'MACHINE_OFFLINE', status: 503, title: 'Machine offline', detail: 'Machine offline', retryAfter: 30 })
  t.equal(new AppError('MACHINE_OFFLINE', { retryAfter: 7 }).retryAfter, 7, 'the thrower knows better')
  t.equal(new AppError('UPSTREAM_BUSY').retryAfter, 1)
  t.equal(new AppError('ORDER_NOT_FOUND').retryAfter, undefined, 'nothing to wait for')
  const framework = new AppError('INVALID_REQUEST', { status: 413, title: 'Payload too large', detail: 'too big' })
  t.match(framework, { status: 413, title: 'Payload too large', detail: 'too big', code: 'INVALID_REQUEST' })
  const cause = new Error('socket hang up')
  t.equal(new AppError('UPSTREAM_UNREACHABLE', { cause }).cause, cause, 'the cause is kept')
  t.ok(isAppError(offline))
  t.notOk(isAppError(new Error('plain')))
})
