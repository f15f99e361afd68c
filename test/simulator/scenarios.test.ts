import t from 'tap'
import {
  DISPENSING_AFTER_MS, DOCUMENTED_ORDER_STATUSES, DOCUMENTED_RECORD_STATUSES, FINISHED_AFTER_MS, MACHINE, ORDER,
  orderDataAt, PAID_AFTER_MS, SCENARIO_MACHINES, SCENARIO_ORDERS, type VendorOrderData
} from '../../src/simulator/scenarios.js'

/** Every data snapshot the table can serve: static orders and each phase of the progressing ones. */
function allSnapshots (): VendorOrderData[] {
  return Object.values(SCENARIO_ORDERS).flatMap((order) => [
    ...(order.data === undefined ? [] : [order.data]),
    ...(order.phases ?? []).map((phase) => phase.data)
  ])
}

t.test('every documented order status appears in the table', async (t) => {
  const seen = new Set(allSnapshots().map((data) => data.status))
  for (const status of DOCUMENTED_ORDER_STATUSES) t.ok(seen.has(status), status)
})

t.test('every documented record status appears in the table', async (t) => {
  const seen = new Set(allSnapshots().flatMap((data) => data.records.map((r) => r.status)))
  for (const status of DOCUMENTED_RECORD_STATUSES) t.ok(seen.has(status), status)
})

t.test('unpaid orders carry no record status, paid ones always do', async (t) => {
  const unpaid = new Set(['NOTPAY', 'CLOSED', 'REVOKED', 'USERPAYING', 'PAYERROR'])
  for (const data of allSnapshots()) {
    for (const record of data.records) {
      t.equal(record.status === '', unpaid.has(data.status), `order ${data.order_id} record ${record.id}`)
    }
  }
})

t.test('forward-compatibility, pickup-code, int64 and all-zero scenarios exist', async (t) => {
  const unlisted = SCENARIO_ORDERS[ORDER.unlistedEnums]?.data
  t.notOk((DOCUMENTED_ORDER_STATUSES as readonly string[]).includes(unlisted?.status ?? 'SUCCESS'))
  t.ok(unlisted?.records.some((r) => !(DOCUMENTED_RECORD_STATUSES as readonly string[]).includes(r.status)))
  t.ok(allSnapshots().some((data) => data.status === 'PICKUPCODE' && data.pickup_code_id !== 0))
  t.equal(typeof SCENARIO_ORDERS[ORDER.int64Strings]?.data?.order_id, 'string')
  t.equal(SCENARIO_ORDERS[ORDER.expired]?.error?.code, 40005)
  t.equal(SCENARIO_ORDERS[ORDER.stateInvalid]?.error?.code, 40006)
  t.notOk(Object.hasOwn(SCENARIO_ORDERS, String(ORDER.unknown)))
})

t.test('machine numbers: 8 digits, except one 12-digit special merchant', async (t) => {
  const lengths = Object.keys(SCENARIO_MACHINES).map((machine) => machine.length)
  t.same(lengths.filter((n) => n !== 8), [12])
  t.equal(MACHINE.special.length, 12)
  t.notOk(Object.hasOwn(SCENARIO_MACHINES, MACHINE.unknown))
  for (const order of Object.values(SCENARIO_ORDERS)) {
    t.ok(Object.hasOwn(SCENARIO_MACHINES, order.machineNo), `machine ${order.machineNo} exists`)
  }
})

t.test('each scenario has exactly one of data, phases, error', async (t) => {
  for (const [id, order] of Object.entries(SCENARIO_ORDERS)) {
    const kinds = [order.data, order.phases, order.error].filter((x) => x !== undefined)
    t.equal(kinds.length, 1, `order ${id}`)
  }
})

t.test('progressing orders change phase at the exported boundaries', async (t) => {
  const order = SCENARIO_ORDERS[ORDER.progressingTimeout]
  t.ok(order)
  if (order === undefined) return
  const at = (ms: number): string => {
    const data = orderDataAt(order, ms)
    return `${data?.status}/${data?.records[0]?.status}`
  }
  t.equal(at(-5), 'NOTPAY/')
  t.equal(at(PAID_AFTER_MS - 1), 'NOTPAY/')
  t.equal(at(PAID_AFTER_MS), 'SUCCESS/WAITING_PICKED_UP')
  t.equal(at(DISPENSING_AFTER_MS), 'SUCCESS/IS_DELIVERING')
  t.equal(at(FINISHED_AFTER_MS), 'SUCCESS/IS_TIMEOUT')
  t.equal(at(FINISHED_AFTER_MS * 100), 'SUCCESS/IS_TIMEOUT')
})

t.test('every order the table serves carries its own order_id, which protobuf never leaves out', async (t) => {
  for (const [id, order] of Object.entries(SCENARIO_ORDERS)) {
    const snapshots = [...(order.data === undefined ? [] : [order.data]), ...(order.phases ?? []).map((phase) => phase.data)]
    for (const data of snapshots) t.equal(String(data.order_id), id, `order ${id}`)
  }
})
