import fc from 'fast-check'
import t from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import { isTerminal, normalizeOrder, toMoney } from '../../src/orders/normalize.js'
import { ITEM_STATUSES, ORDER_EXAMPLE, ORDER_STATUSES, OrderSchema } from '../../src/orders/schema.js'
import { MAX_ORDER_LINES, VendorOrderSchema } from '../../src/upstream/endpoints/order-query.js'
import { DOCUMENTED_VENDOR_ORDER } from '../fixtures/documented-order.js'

const parse = (data: unknown) => VendorOrderSchema.parse(data)

t.test('the documented example normalizes to the documented contract', async (t) => {
  const order = normalizeOrder(parse(DOCUMENTED_VENDOR_ORDER), 54)
  t.same(order, ORDER_EXAMPLE)
  t.ok(OrderSchema.safeParse(order).success)
})

t.test('an order with every optional field left out gets every field, defaulted', async (t) => {
  const order = normalizeOrder(parse({ order_id: 77 }), 77)
  t.same(order, {
    id: 77,
    tradeId: null,
    date: null,
    amount: '0.00',
    status: 'UNKNOWN',
    notifySendCount: 0,
    pickupCodeId: null,
    terminal: false,
    items: []
  })
  const item = normalizeOrder(parse({ order_id: 1, status: 'NOTPAY', records: [{}] }), 1).items[0]
  t.same(item, { id: 0, productId: 0, quantity: 0, price: '0.00', status: null, notifySent: false })
})

t.test('integers sent as strings (protobuf int64) become numbers', async (t) => {
  const order = normalizeOrder(parse({
    order_id: '9007199254740991',
    notify_send_count: '2',
    pickup_code_id: '88',
    records: [{ id: '70', product_id: '121', quantity: '3', price: '3.00', status: 'IS_SUCCESS', notify_sent: '1' }]
  }), 9007199254740991)
  t.equal(order.id, 9007199254740991)
  t.equal(order.notifySendCount, 2)
  t.equal(order.pickupCodeId, 88)
  t.same(order.items[0], { id: 70, productId: 121, quantity: 3, price: '3.00', status: 'IS_SUCCESS', notifySent: true })
  t.throws(() => parse({ order_id: '12abc' }))
  t.throws(() => parse({ order_id: '99999999999999999' }), 'beyond 2^53 is refused, not rounded')
})

t.test('unknown enum values become UNKNOWN and are reported', async (t) => {
  const seen: string[] = []
  const order = normalizeOrder(parse({ order_id: 5, status: 'PARTIAL_REFUND', records: [{ status: 'IS_QUEUED' }, { status: 'IS_SUCCESS' }] }), 5,
    (field, value) => seen.push(`${field}=${value}`))
  t.equal(order.status, 'UNKNOWN')
  t.same(order.items.map((i) => i.status), ['UNKNOWN', 'IS_SUCCESS'])
  t.same(seen, ['status=PARTIAL_REFUND', 'items.status=IS_QUEUED'])
  t.equal(order.terminal, false)
})

t.test('unknown fields are ignored', async (t) => {
  const order = normalizeOrder(parse({ ...DOCUMENTED_VENDOR_ORDER, brand_new_field: { x: 1 }, records: [{ ...DOCUMENTED_VENDOR_ORDER.records[0], extra: true }] }), 54)
  t.notOk('brand_new_field' in order)
  t.notOk('extra' in (order.items[0] as object))
})

t.test('money is always two decimals and never goes through a float', async (t) => {
  const cases: Array<[string | undefined, string]> = [
    ['3.00', '3.00'], ['3', '3.00'], ['3.5', '3.50'], ['0.1', '0.10'], ['003.10', '3.10'], ['0', '0.00'],
    ['12345678901234567890.99', '12345678901234567890.99'], ['2.500', '2.50'], [undefined, '0.00']
  ]
  for (const [input, output] of cases) t.equal(toMoney(input), output, `${input}`)
  t.throws(() => toMoney('2.505'), { code: 'UPSTREAM_BAD_RESPONSE' }, 'a third non-zero decimal is never rounded away')
  t.equal(normalizeOrder(parse({ order_id: 1, amount: 4.5 }), 1).amount, '4.50', 'a JSON number amount is tolerated')
  t.throws(() => parse({ order_id: 1, amount: '3,00' }))
})

t.test('notify_sent: "1" is true; "0", absent and anything else false', async (t) => {
  const flags = normalizeOrder(parse({ order_id: 1, records: [{ notify_sent: '1' }, { notify_sent: '0' }, {}, { notify_sent: 1 }, { notify_sent: 'yes' }] }), 1)
    .items.map((i) => i.notifySent)
  t.same(flags, [true, false, false, true, false])
})

t.test('terminal follows the rule the Order schema documents', async (t) => {
  for (const status of ['REFUND', 'CLOSED', 'REVOKED', 'PAYERROR'] as const) t.ok(isTerminal(status, []), status)
  for (const status of ['NOTPAY', 'USERPAYING', 'UNKNOWN'] as const) t.notOk(isTerminal(status, [{ status: 'IS_SUCCESS' }]), status)
  for (const status of ['SUCCESS', 'PICKUPCODE', 'TESTPAY'] as const) {
    t.notOk(isTerminal(status, []), `${status} without lines`)
    t.ok(isTerminal(status, [{ status: 'IS_SUCCESS' }, { status: 'IS_FAILED' }, { status: 'IS_TIMEOUT' }, { status: 'IS_PICKED_UP' }, { status: 'IS_REFUND' }]), `${status} all final`)
    t.notOk(isTerminal(status, [{ status: 'IS_SUCCESS' }, { status: 'IS_DELIVERING' }]), `${status} one dispensing`)
    t.notOk(isTerminal(status, [{ status: 'WAITING_PICKED_UP' }]), `${status} waiting`)
    t.notOk(isTerminal(status, [{ status: null }]), `${status} line without status`)
    t.notOk(isTerminal(status, [{ status: 'UNKNOWN' }]), `${status} unknown line status`)
  }
})

t.test('whatever the vendor sends that passes its schema, the normalizer answers the public contract or refuses it', async (t) => {
  // what protobuf JSON may carry: numbers or digit strings, money as strings or numbers, any
  // enum text, fields left out; the serializer trusts this property instead of re-validating
  const int = fc.oneof(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.nat({ max: 2 ** 40 }).map(String))
  const money = fc.oneof(
    { weight: 8, arbitrary: fc.stringMatching(/^\d{1,6}(\.\d{1,2}0?0?)?$/) },
    { weight: 1, arbitrary: fc.stringMatching(/^\d{1,6}\.\d{3,4}$/) },
    { weight: 1, arbitrary: fc.double({ min: 0, max: 1e6, noNaN: true }) },
    { weight: 1, arbitrary: fc.string() })
  const status = fc.oneof(fc.constantFrom(...ORDER_STATUSES, ...ITEM_STATUSES), fc.string())
  const record = fc.record({ id: int, product_id: int, quantity: int, price: money, status, notify_sent: fc.oneof(fc.constantFrom('0', '1', 1, true, false), fc.string()) }, { requiredKeys: [] })
  const vendorOrder = fc.record({
    // mostly well-formed, as the vendor sends them; sometimes any text, which the schema must refuse or pass safely
    trade_id: fc.oneof({ weight: 6, arbitrary: fc.stringMatching(/^[0-9a-f]{32}$/) }, { weight: 1, arbitrary: fc.string() }),
    date: fc.oneof(
      { weight: 6, arbitrary: fc.date({ min: new Date('2000-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)) },
      { weight: 1, arbitrary: fc.string() }),
    amount: money,
    status,
    notify_send_count: int,
    pickup_code_id: int,
    records: fc.array(record, { maxLength: 4 })
  }, { requiredKeys: [] })
  const seed = Number(process.env.FUZZ_SEED ?? 20240426)
  t.comment(`fast-check seed ${seed} (reproduce with FUZZ_SEED=${seed})`)
  let answered = 0
  fc.assert(fc.property(vendorOrder, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (fields, orderId) => {
    const raw = { order_id: orderId, ...fields }
    const parsed = VendorOrderSchema.safeParse(raw)
    if (!parsed.success) return
    let order
    try {
      order = normalizeOrder(parsed.data, orderId)
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'UPSTREAM_BAD_RESPONSE') throw error
      return
    }
    answered++
    const checked = OrderSchema.safeParse(order)
    if (!checked.success) throw new Error(`normalized order breaks the contract: ${JSON.stringify(checked.error.issues)} for ${JSON.stringify(raw)}`)
  }), { seed, numRuns: 2000 })
  t.ok(answered > 800, `most generated orders were answered (${answered} of 2000)`)
})

t.test('documented fields must fit their documented format when present', async (t) => {
  for (const date of ['<img src=x onerror=alert(1)>', '2024-02-30', '2024-4-26', '2024-04-26T00:00:00Z', ' 2024-04-26']) {
    t.throws(() => parse({ order_id: 1, date }), `date ${date}`)
  }
  for (const tradeId of ['<b>x</b>', 'a"b', 'a b', 'tab\there', 'x'.repeat(65), '订单1']) {
    t.throws(() => parse({ order_id: 1, trade_id: tradeId }), `trade_id ${tradeId}`)
  }
  t.throws(() => parse({}), 'order_id is required: protobuf never leaves out a non-zero id')
  t.throws(() => parse({ order_id: 1, amount: '1'.repeat(25) }), 'an amount longer than any real one')
  const order = normalizeOrder(parse({ order_id: 1, date: '2024-02-29', trade_id: 'MCH-2024_0001|*@' }), 1)
  t.match(order, { date: '2024-02-29', tradeId: 'MCH-2024_0001|*@' })
  t.match(normalizeOrder(parse({ order_id: 1, date: '', trade_id: '' }), 1), { date: null, tradeId: null }, 'protobuf\'s empty string is absent')
})

t.test('the largest order the vendor schema lets through stays a small answer', async (t) => {
  // the answer size is bounded by construction: lines are capped, and so is every string in them
  const MAX_ANSWER_BYTES = 64 * 1024
  const big = String(Number.MAX_SAFE_INTEGER)
  const money = '9'.repeat(24)
  const line = { id: big, product_id: big, quantity: big, price: money, status: 'WAITING_PICKED_UP', notify_sent: '0' }
  const largest = { order_id: big, trade_id: 'x'.repeat(64), date: '2024-04-26', amount: money, status: 'USERPAYING', notify_send_count: big, pickup_code_id: big, records: Array.from({ length: MAX_ORDER_LINES }, () => line) }
  const body = JSON.stringify(normalizeOrder(parse(largest), Number.MAX_SAFE_INTEGER))
  t.ok(Buffer.byteLength(body) <= MAX_ANSWER_BYTES, `the largest answer is ${Buffer.byteLength(body)} bytes`)
  t.throws(() => parse({ ...largest, records: [...largest.records, line] }), 'one more line is refused')
  t.throws(() => parse({ ...largest, trade_id: 'x'.repeat(65) }), 'a longer trade_id is refused')
  t.throws(() => parse({ ...largest, records: [{ ...line, price: money + '9' }] }), 'a longer price is refused')
})
