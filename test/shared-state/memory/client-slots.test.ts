import t from 'tap'
import { createMemoryClientSlots } from '../../../src/shared-state/memory/client-slots.js'

t.test('at most max per client, each client its own', async (t) => {
  const slots = createMemoryClientSlots(2)
  t.type(await slots.take('a'), 'function')
  t.type(await slots.take('a'), 'function')
  t.equal(await slots.take('a'), undefined, 'a third is refused')
  t.type(await slots.take('b'), 'function', 'another client has its own')
})

t.test('a slot given back is free again, once however often it is given back', async (t) => {
  const slots = createMemoryClientSlots(2)
  const first = (await slots.take('a'))!
  await slots.take('a')
  first()
  first()
  t.type(await slots.take('a'), 'function', 'the freed slot')
  t.equal(await slots.take('a'), undefined, 'the second release did not free another')
})

t.test('a client with nothing open is forgotten: its slots start from zero', async (t) => {
  const slots = createMemoryClientSlots(1)
  for (let round = 0; round < 3; round++) {
    const release = await slots.take('a')
    t.type(release, 'function', `round ${round}`)
    t.equal(await slots.take('a'), undefined)
    release!()
  }
})
