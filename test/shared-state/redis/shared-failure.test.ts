import t from 'tap'
import { AppError, ERROR_KINDS } from '../../../src/errors/catalogue.js'
import { MAX_SHARED_RETRY_AFTER_S, sharedFailureError, SharedFailureSchema, toSharedFailure } from '../../../src/shared-state/redis/shared-failure.js'
import { errorForVendorCode } from '../../../src/upstream/codes.js'

t.test('the holder tells a failure as its code and Retry-After, never its words', async (t) => {
  const told = toSharedFailure(new AppError('MACHINE_OFFLINE', { detail: 'Machine 16327129 does not answer.', retryAfter: 30, vendorCode: 30002 }))
  t.same(told, { code: 'MACHINE_OFFLINE', retryAfter: 30 })
  t.same(toSharedFailure(new AppError('UPSTREAM_TIMEOUT')), { code: 'UPSTREAM_TIMEOUT' }, 'no Retry-After: none told')
  t.same(toSharedFailure(new AppError('UNAVAILABLE', { retryAfter: 1e9 })).retryAfter, MAX_SHARED_RETRY_AFTER_S, 'a Retry-After past the bound is told as the bound: the waiters take it')
  t.same(toSharedFailure(new AppError('UNAVAILABLE', { retryAfter: 1.5 })).retryAfter, 2, 'whole seconds')
  for (const error of [new AppError('INTERNAL'), errorForVendorCode(30002), new AppError('UNAVAILABLE', { retryAfter: 600 })]) {
    t.ok(SharedFailureSchema.safeParse(JSON.parse(JSON.stringify(toSharedFailure(error)))).success, `${error.code}: what the holder sends, its waiters read`)
  }
})

t.test('a told failure with anything else is no failure: words, an unknown code, a Retry-After out of bounds', async (t) => {
  const refused = {
    'a detail': { code: 'UPSTREAM_TIMEOUT', detail: 'forged failure' },
    'a title': { code: 'UPSTREAM_TIMEOUT', title: 'forged' },
    'an unknown code': { code: 'FORGED' },
    'a negative Retry-After': { code: 'UNAVAILABLE', retryAfter: -1 },
    'a Retry-After past an hour': { code: 'UNAVAILABLE', retryAfter: MAX_SHARED_RETRY_AFTER_S + 1 },
    'a fractional Retry-After': { code: 'UNAVAILABLE', retryAfter: 1.5 },
    'a Retry-After in words': { code: 'UNAVAILABLE', retryAfter: 'soon' }
  }
  for (const [name, failure] of Object.entries(refused)) t.notOk(SharedFailureSchema.safeParse(failure).success, name)
  t.ok(SharedFailureSchema.safeParse({ code: 'UNAVAILABLE', retryAfter: MAX_SHARED_RETRY_AFTER_S }).success, 'an hour is within')
})

t.test('the waiter answers in its own words: the vendor code\'s wording where the code has one, else the catalogue\'s title', async (t) => {
  const offline = sharedFailureError({ code: 'MACHINE_OFFLINE', retryAfter: 30 })
  t.match(offline, { code: 'MACHINE_OFFLINE', status: 503, detail: errorForVendorCode(30002).detail, retryAfter: 30 }, 'as this replica says it when it asks the vendor itself')
  t.match(sharedFailureError({ code: 'UPSTREAM_TIMEOUT' }), { code: 'UPSTREAM_TIMEOUT', status: 504, detail: ERROR_KINDS.UPSTREAM_TIMEOUT.title })
  t.equal(sharedFailureError({ code: 'UNAVAILABLE' }).retryAfter, ERROR_KINDS.UNAVAILABLE.retryAfterS, 'none told: the catalogue\'s Retry-After')
})
