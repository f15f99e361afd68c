import t from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import type { VendorClient } from '../../src/upstream/client.js'
import { meterVendorClient, type VendorCallEvent } from '../../src/upstream/metered.js'

t.test('every call is reported once: started, then its outcome, vendor code and duration', async (t) => {
  const events: Array<VendorCallEvent | 'start'> = []
  let answer: () => Promise<any> = async () => ({ order_id: 54 })
  let closed = false
  const client: VendorClient = { getOrder: () => answer(), close: async () => { closed = true } }
  const metered = meterVendorClient(client, { onStart: () => events.push('start'), onCall: (event) => events.push(event) })

  t.same(await metered.getOrder(54, '16327129'), { order_id: 54 })
  const notFound = new AppError('ORDER_NOT_FOUND', { vendorCode: 80002 })
  answer = async () => { throw notFound }
  await t.rejects(metered.getOrder(54, '16327129'), notFound, 'the error passes through unchanged')
  answer = async () => { throw new AppError('UPSTREAM_TIMEOUT') }
  await t.rejects(metered.getOrder(54, '16327129'))
  const bug = new TypeError('bug')
  answer = async () => { throw bug }
  await t.rejects(metered.getOrder(54, '16327129'), bug)

  t.match(events, [
    'start', { outcome: 'ok', vendorCode: 0, durationMs: Number },
    'start', { outcome: 'ORDER_NOT_FOUND', vendorCode: 80002 },
    'start', { outcome: 'UPSTREAM_TIMEOUT', vendorCode: undefined },
    'start', { outcome: 'INTERNAL', vendorCode: undefined }
  ])
  await metered.close()
  t.ok(closed, 'close reaches the client')
})

t.test('every call is one log line, at its error kind\'s level, timed by the same measurement as its event', async (t) => {
  const lines: Array<[string, any]> = []
  const log = { info: (obj: object) => lines.push(['info', obj]), warn: (obj: object) => lines.push(['warn', obj]), error: (obj: object) => lines.push(['error', obj]) }
  const events: VendorCallEvent[] = []
  let answer: () => Promise<any> = async () => ({ order_id: 54 })
  const metered = meterVendorClient({ getOrder: () => answer(), close: async () => {} }, { onCall: (event) => events.push(event) })

  await metered.getOrder(54, '16327129', { log })
  for (const [code, level] of [['ORDER_NOT_FOUND', 'info'], ['UPSTREAM_TIMEOUT', 'warn'], ['UPSTREAM_REJECTED', 'error']] as const) {
    answer = async () => { throw new AppError(code, { upstreamStatus: 200 }) }
    await t.rejects(metered.getOrder(54, '16327129', { log }))
    t.equal(lines.at(-1)?.[0], level, code)
  }
  answer = async () => { throw new TypeError('bug') }
  await t.rejects(metered.getOrder(54, '16327129', { log }))

  t.same(lines.map(([level]) => level), ['info', 'info', 'warn', 'error', 'error'], 'a bug of ours is an error')
  t.match(lines[0]![1], { vendor: { orderId: 54, outcome: 'ok', vendorCode: 0 } })
  t.match(lines[2]![1], { vendor: { orderId: 54, outcome: 'UPSTREAM_TIMEOUT', httpStatus: 200 } })
  lines.forEach(([, line], i) => t.equal(line.vendor.durationMs, Math.round(events[i]!.durationMs * 10) / 10, 'one measurement'))
})

t.test('no hooks: the client works as before', async (t) => {
  const metered = meterVendorClient({ getOrder: async () => ({ order_id: 1 }), close: async () => {} }, {})
  t.same(await metered.getOrder(1, '16327129'), { order_id: 1 })
})
