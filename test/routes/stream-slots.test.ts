import t from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import { createStreamSlots } from '../../src/routes/stream-slots.js'

const refusal = (take: () => unknown): string | undefined => {
  try {
    take()
    return undefined
  } catch (error) {
    return error instanceof AppError ? error.code : String(error)
  }
}

t.test('beyond a client\'s share: 429; the others still get theirs', async (t) => {
  const slots = createStreamSlots({ maxStreams: 10, maxPerClient: 2 })
  slots.take('a')
  slots.take('a')
  t.equal(refusal(() => slots.take('a')), 'RATE_LIMITED')
  t.equal(refusal(() => slots.take('b')), undefined)
})

t.test('beyond the total: 503 with a Retry-After, whoever asks', async (t) => {
  const slots = createStreamSlots({ maxStreams: 2, maxPerClient: 2 })
  slots.take('a')
  slots.take('b')
  let error: unknown
  try { slots.take('c') } catch (thrown) { error = thrown }
  t.match(error, { code: 'UNAVAILABLE', status: 503 })
  t.ok((error as AppError).retryAfter! > 0, 'Retry-After')
})

t.test('a slot given back is free again, once however often it is given back', async (t) => {
  const slots = createStreamSlots({ maxStreams: 2, maxPerClient: 1 })
  const release = slots.take('a')
  t.equal(refusal(() => slots.take('a')), 'RATE_LIMITED')
  release()
  release()
  const again = slots.take('a')
  t.equal(refusal(() => slots.take('b')), undefined, 'the second release did not free a slot it did not hold')
  t.equal(refusal(() => slots.take('c')), 'UNAVAILABLE')
  again()
  t.equal(refusal(() => slots.take('c')), undefined)
})
