import t from 'tap'
import { omitZero } from '../../src/simulator/omit-zero.js'

t.test('drops zero, empty, false and null fields, recursively', async (t) => {
  const zeros = { a: 0, b: '', c: false, d: null, e: [], f: undefined }
  const kept = { keep: 1, text: '0', yes: true }
  t.same(omitZero({
    ...zeros,
    ...kept,
    nested: { zero: 0, list: [], value: 'x' },
    list: [{ id: 1, status: '' }, { id: 0 }, 0, '']
  }), {
    ...kept,
    nested: { value: 'x' },
    list: [{ id: 1 }, {}, 0, '']
  })
})

t.test('keeps an empty object and leaves scalars alone', async (t) => {
  t.same(omitZero({ a: {} }), { a: {} })
  t.equal(omitZero(0), 0)
  t.equal(omitZero('x'), 'x')
  t.equal(omitZero(null), null)
})

t.test('an array that only empties after cleaning is still kept (elements are never dropped)', async (t) => {
  t.same(omitZero({ records: [{ status: '' }] }), { records: [{}] })
})

t.test('does not mutate its input', async (t) => {
  const input = { a: 0, b: { c: '' } }
  omitZero(input)
  t.same(input, { a: 0, b: { c: '' } })
})
