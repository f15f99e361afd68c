import t from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import { createStreamSlots, type ClientSlots, type StreamSlotsOptions } from '../../src/routes/stream-slots.js'
import { createMemoryClientSlots } from '../../src/shared-state/memory/client-slots.js'

const slotsOf = ({ maxStreams, maxPerClient }: Omit<StreamSlotsOptions, 'clientSlots'>, clientSlots: ClientSlots = createMemoryClientSlots(maxPerClient)) =>
  createStreamSlots({ maxStreams, maxPerClient, clientSlots })

const refusal = async (take: () => Promise<unknown>): Promise<string | undefined> => {
  try {
    await take()
    return undefined
  } catch (error) {
    return error instanceof AppError ? error.code : String(error)
  }
}

t.test('beyond a client\'s share: 429 saying what to do; the others still get theirs', async (t) => {
  const slots = slotsOf({ maxStreams: 10, maxPerClient: 2 })
  await slots.take('a')
  await slots.take('a')
  await t.rejects(slots.take('a'), { code: 'RATE_LIMITED', status: 429, detail: /2 event streams and long polls open.*close one, or poll without Prefer: wait/ })
  t.equal(await refusal(() => slots.take('b')), undefined)
})

t.test('beyond the total: 503 with a Retry-After, whoever asks', async (t) => {
  const slots = slotsOf({ maxStreams: 2, maxPerClient: 2 })
  await slots.take('a')
  await slots.take('b')
  let error: unknown
  try { await slots.take('c') } catch (thrown) { error = thrown }
  t.match(error, { code: 'UNAVAILABLE', status: 503 })
  t.ok((error as AppError).retryAfter! > 0, 'Retry-After')
})

t.test('a slot given back is free again, once however often it is given back', async (t) => {
  const slots = slotsOf({ maxStreams: 2, maxPerClient: 1 })
  const release = await slots.take('a')
  t.equal(await refusal(() => slots.take('a')), 'RATE_LIMITED')
  release()
  release()
  const again = await slots.take('a')
  t.equal(await refusal(() => slots.take('b')), undefined, 'the second release did not free a slot it did not hold')
  t.equal(await refusal(() => slots.take('c')), 'UNAVAILABLE')
  again()
  t.equal(await refusal(() => slots.take('c')), undefined)
})

t.test('a full process does not ask the client count; a refusal there leaves the total as it was', async (t) => {
  const asked: string[] = []
  let answer: 'slot' | 'none' | 'fail' = 'none'
  const clientSlots: ClientSlots = {
    async take (client) {
      asked.push(client)
      if (answer === 'fail') throw new Error('boom')
      return answer === 'slot' ? () => {} : undefined
    }
  }
  const slots = slotsOf({ maxStreams: 1, maxPerClient: 1 }, clientSlots)
  t.equal(await refusal(() => slots.take('a')), 'RATE_LIMITED')
  answer = 'fail'
  t.equal(await refusal(() => slots.take('a')), 'Error: boom', 'a failure is the caller\'s to answer')
  answer = 'slot'
  await slots.take('b')
  t.equal(await refusal(() => slots.take('c')), 'UNAVAILABLE', 'neither the refusal nor the failure kept a slot of the total')
  t.same(asked, ['a', 'a', 'b'], 'the full process answered c without asking')
})

t.test('concurrent takes cannot all pass the total while the client count answers', async (t) => {
  let open!: () => void
  const gate = new Promise<void>((resolve) => { open = resolve })
  const clientSlots: ClientSlots = { take: async () => { await gate; return () => {} } }
  const slots = slotsOf({ maxStreams: 2, maxPerClient: 10 }, clientSlots)
  const takes = [slots.take('a'), slots.take('b'), slots.take('c')].map(async (take) => await refusal(() => take))
  open()
  t.same(await Promise.all(takes), [undefined, undefined, 'UNAVAILABLE'])
})
