import t from 'tap'
import { z } from 'zod'
import { orAbsentWhenEmpty, parseEnvelope, vendorFlag, vendorInt, vendorMoney } from '../../src/upstream/schemas.js'

t.test('the envelope: a JSON object with at least one of code, message and data, each of its type', async (t) => {
  const cases: Array<[string, unknown, object | null]> = [
    ['a full envelope', { code: 0, message: 'ok', data: { a: 1 } }, { code: 0, message: 'ok', data: { a: 1 } }],
    ['no code is protobuf\'s 0', { message: 'ok' }, { code: 0, message: 'ok' }],
    ['only data', { data: null }, { code: 0, data: null }],
    ['a code as a digit string', { code: '40005' }, { code: 40005 }],
    ['a negative code', { code: -1 }, { code: -1 }],
    ['unknown keys are dropped', { code: 1, trace: 'x' }, { code: 1 }],
    ['none of the three keys', { unrelated: true }, null],
    ['a code that is not a number', { code: 'zero' }, null],
    ['a fractional code', { code: 1.5 }, null],
    ['a message that is not text', { code: 0, message: 7 }, null],
    ['an array', [{ code: 0 }], null],
    ['null', null, null],
    ['a string', '{"code":0}', null],
    ['a number', 0, null]
  ]
  for (const [name, body, envelope] of cases) t.same(parseEnvelope(body), envelope, name)
})

/** A value the schema refuses. */
const REFUSED = Symbol('refused')

t.test('vendor field conventions: integers as numbers or digit strings, money as decimals, flags, empty strings as absent', async (t) => {
  const cases: Array<[string, z.ZodType, unknown, unknown]> = [
    ['an integer', vendorInt, 54, 54],
    ['a 64-bit integer as a digit string', vendorInt, '9007199254740991', 9_007_199_254_740_991],
    ['past the safe integers', vendorInt, '9007199254740993', REFUSED],
    ['negative', vendorInt, -1, REFUSED],
    ['a fraction', vendorInt, 1.5, REFUSED],
    ['digits and more', vendorInt, '12a', REFUSED],
    ['money as the vendor writes it', vendorMoney, '3.00', '3.00'],
    ['money as a JSON number', vendorMoney, 3, '3'],
    ['money that is not a decimal', vendorMoney, '3,00', REFUSED],
    ['money longer than any amount', vendorMoney, '9'.repeat(25), REFUSED],
    ['a flag set', vendorFlag, '1', true],
    ['a flag as 1', vendorFlag, 1, true],
    ['a flag as true', vendorFlag, true, true],
    ['a flag unset', vendorFlag, '0', false],
    ['an empty string is absent', orAbsentWhenEmpty(z.string().min(2)), '', undefined],
    ['absent is absent', orAbsentWhenEmpty(z.string().min(2)), undefined, undefined],
    ['a value is checked', orAbsentWhenEmpty(z.string().min(2)), 'ab', 'ab'],
    ['a present value that breaks its format', orAbsentWhenEmpty(z.string().min(2)), 'a', REFUSED]
  ]
  for (const [name, schema, value, read] of cases) {
    const result = schema.safeParse(value)
    t.same(result.success ? result.data : REFUSED, read, name)
  }
})
