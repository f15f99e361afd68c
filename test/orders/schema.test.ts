import t from 'tap'
import { OrderParamsSchema, OrderQuerySchema } from '../../src/orders/schema.js'

const FORM = 'must be a positive integer: digits only, no sign, no leading zero'
const RANGE = 'must be at most 9007199254740991'

/** The messages a value of id gets, one per problem. */
const idMessages = (id: string): string[] => {
  const parsed = OrderParamsSchema.safeParse({ id })
  return parsed.success ? [] : parsed.error.issues.map((issue) => issue.message)
}

t.test('an order id: one message per bad value, saying what is wrong with it', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['54', []],
    ['9007199254740991', []],
    // over 2^53-1 with 16 digits, or with 17 or more: the same single message
    ['9007199254740992', [RANGE]],
    ['12345678901234567', [RANGE]],
    ['99999999999999999999', [RANGE]],
    ['0', [FORM]],
    ['054', [FORM]],
    ['-1', [FORM]],
    ['+5', [FORM]],
    ['1.5', [FORM]],
    ['abc', [FORM]],
    ['', [FORM]]
  ]
  for (const [id, messages] of cases) t.same(idMessages(id), messages, JSON.stringify(id))
})

t.test('a valid id becomes a number', async (t) => {
  t.same(OrderParamsSchema.parse({ id: '9007199254740991' }), { id: Number.MAX_SAFE_INTEGER })
})

t.test('a machine number is 8 to 20 digits', async (t) => {
  for (const machine of ['16327129', '12345678901234567890']) t.ok(OrderQuerySchema.safeParse({ machine }).success, machine)
  for (const machine of ['1632712', '123456789012345678901', '1632712a', '']) t.notOk(OrderQuerySchema.safeParse({ machine }).success, machine)
  t.equal(OrderQuerySchema.safeParse({}).error?.issues[0]?.message, 'is required')
})
