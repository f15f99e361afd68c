/**
 * The simulator's scenario table: every machine and order it knows. Values are written the way
 * the vendor's protobuf messages hold them (zeros included); omitZero strips them on the way out.
 *
 * machine        state                       orders
 * 16327129       online (documented machine)  54, 1001-1012, 2001-2003, 4005, 4006
 * 16327128       online (a second machine)    6007
 * 30000002       offline                      any order -> 30002
 * 30000004       not in operation             any order -> 30004
 * 123456789012   online, 12-digit special     12
 * 16327200       online, for load tests       any order -> a generated SUCCESS order (loadOrder)
 * anything else  unknown, e.g. 30000003       any order -> 30003
 *
 * order  machine       shows
 * 54     16327129      the documented example, field for field
 * 1001   16327129      SUCCESS, lines IS_SUCCESS + IS_PICKED_UP (terminal)
 * 1002   16327129      REFUND, lines IS_REFUND
 * 1003   16327129      CLOSED, unpaid: lines without status
 * 1004   16327129      REVOKED (pay-by-code), lines without status
 * 1005   16327129      USERPAYING (pay-by-code), lines without status
 * 1006   16327129      PAYERROR, lines without status
 * 1007   16327129      PICKUPCODE with pickup_code_id 7001, line WAITING_PICKED_UP
 * 1008   16327129      NOTPAY, lines without status, no notify_send_count
 * 1009   16327129      TESTPAY, lines IS_FAILED + IS_TIMEOUT
 * 1010   16327129      every field zero: data is just {order_id}
 * 1011   16327129      int64 fields as JSON strings (order_id "1011", ids "10111")
 * 1012   16327129      unlisted enum values PARTIAL_REFUND / IS_QUEUED and an undocumented field
 * 2001   16327129      clock order: NOTPAY -> WAITING_PICKED_UP -> IS_DELIVERING -> IS_SUCCESS
 * 2002   16327129      clock order, ending IS_FAILED
 * 2003   16327129      clock order, ending IS_TIMEOUT
 * 4005   16327129      expired -> 40005
 * 4006   16327129      status invalid -> 40006
 * 6007   16327128      another machine's order: asking with 16327129 -> 6007
 * 12     123456789012  the special merchant's order
 * other  -             no matching record -> 80002, e.g. 99999
 *
 * 1001-1009 follow the order of the statuses in the vendor's docs.
 *
 * Clock orders run from the first time they are asked for (on their own machine), not from the
 * simulator's start: unpaid, paid at PAID_AFTER_MS, dispensing at DISPENSING_AFTER_MS, final at
 * FINISHED_AFTER_MS, when each line's device.delivery.response goes to the notify URL, if one is
 * set. Once final for RESTART_AFTER_MS, the run is forgotten (and the notify URL told so), and
 * the next question starts it again (clock-orders.ts).
 */

import { createHash } from 'node:crypto'

export const DOCUMENTED_ORDER_STATUSES = [
  'SUCCESS', 'REFUND', 'CLOSED', 'REVOKED', 'USERPAYING', 'PAYERROR', 'PICKUPCODE', 'NOTPAY', 'TESTPAY'
] as const

export const DOCUMENTED_RECORD_STATUSES = [
  'WAITING_PICKED_UP', 'IS_PICKED_UP', 'IS_REFUND', 'IS_DELIVERING', 'IS_SUCCESS', 'IS_FAILED', 'IS_TIMEOUT'
] as const

/** protobuf's JSON form writes 64-bit integers as strings, so some scenarios do */
export type Int64 = number | string

export interface VendorRecordData {
  id: Int64
  product_id: Int64
  quantity: number
  price: string
  /** '' while the order is unpaid, which protobuf leaves out */
  status: string
  notify_sent: string
}

export interface VendorOrderData {
  order_id: Int64
  trade_id: string
  date: string
  amount: string
  status: string
  notify_send_count: number
  records: VendorRecordData[]
  pickup_code_id: Int64
  /** not in the docs: stands for a field the vendor adds later */
  refund_amount?: string
}

export interface VendorError {
  code: number
  message: string
}

export interface Phase {
  /** ms into the order's run from which this data holds */
  fromMs: number
  data: VendorOrderData
}

/** Exactly one of data, phases or error. */
export interface ScenarioOrder {
  machineNo: string
  data?: VendorOrderData
  phases?: Phase[]
  error?: VendorError
}

export type MachineState = 'online' | 'offline' | 'notOperating'

export const MACHINE = {
  documented: '16327129',
  other: '16327128',
  offline: '30000002',
  notOperating: '30000004',
  special: '123456789012',
  load: '16327200',
  unknown: '30000003'
} as const

export const ORDER = {
  documented: 54,
  allZero: 1010,
  int64Strings: 1011,
  unlistedEnums: 1012,
  progressingSuccess: 2001,
  progressingFailed: 2002,
  progressingTimeout: 2003,
  expired: 4005,
  stateInvalid: 4006,
  otherMachine: 6007,
  special: 12,
  unknown: 99999
} as const

export const SCENARIO_MACHINES: Record<string, MachineState> = {
  [MACHINE.documented]: 'online',
  [MACHINE.other]: 'online',
  [MACHINE.offline]: 'offline',
  [MACHINE.notOperating]: 'notOperating',
  [MACHINE.special]: 'online',
  [MACHINE.load]: 'online'
}

/** Phase boundaries of the clock orders 2001-2003, in ms into a run: short enough to watch whole. */
export const PAID_AFTER_MS = 4_000
export const DISPENSING_AFTER_MS = 8_000
export const FINISHED_AFTER_MS = 15_000
/**
 * How long a clock order stays final before its run is forgotten, and the next question starts it
 * again: long enough to read the final state, short enough that the next try is a live run.
 */
export const RESTART_AFTER_MS = 5_000

function record (id: Int64, productId: Int64, price: string, status = '', notifySent = ''): VendorRecordData {
  return { id, product_id: productId, quantity: 1, price, status, notify_sent: notifySent }
}

/** An order with protobuf-style zero defaults and a stable uuid-hex trade_id derived from its id. */
function order (fields: Partial<VendorOrderData> & Pick<VendorOrderData, 'order_id' | 'status'>): VendorOrderData {
  return {
    trade_id: createHash('md5').update(`trade-${fields.order_id}`).digest('hex'),
    date: '2024-04-26',
    amount: '2.00',
    notify_send_count: 0,
    records: [],
    pickup_code_id: 0,
    ...fields
  }
}

/** NOTPAY, then paid and waiting, then dispensing, then `last`: the clock drives the phase. */
function progressing (orderId: number, last: 'IS_SUCCESS' | 'IS_FAILED' | 'IS_TIMEOUT'): Phase[] {
  const at = (status: string, lineStatus: string, notifySent: string, count: number): VendorOrderData =>
    order({
      order_id: orderId,
      status,
      amount: '2.00',
      notify_send_count: count,
      records: [record(orderId * 10 + 1, 121, '1.00', lineStatus, notifySent), record(orderId * 10 + 2, 122, '1.00', lineStatus, notifySent)]
    })
  return [
    { fromMs: 0, data: at('NOTPAY', '', '', 0) },
    { fromMs: PAID_AFTER_MS, data: at('SUCCESS', 'WAITING_PICKED_UP', '0', 0) },
    { fromMs: DISPENSING_AFTER_MS, data: at('SUCCESS', 'IS_DELIVERING', '1', 1) },
    { fromMs: FINISHED_AFTER_MS, data: at('SUCCESS', last, '1', 2) }
  ]
}

const documented = MACHINE.documented

export const SCENARIO_ORDERS: Record<string, ScenarioOrder> = {
  // the vendor's documented example
  54: {
    machineNo: documented,
    data: {
      order_id: 54,
      trade_id: '3f2a58ad69b74e86b8a1a3da6fd75cc1',
      date: '2024-04-26',
      amount: '3.00',
      status: 'SUCCESS',
      notify_send_count: 1,
      records: [
        record(70, 121, '1.00', 'IS_DELIVERING', '1'),
        record(71, 122, '1.00', 'WAITING_PICKED_UP', '0'),
        record(72, 131, '1.00', 'WAITING_PICKED_UP', '0')
      ],
      pickup_code_id: 0
    }
  },
  // paid and fully dispensed: terminal
  1001: {
    machineNo: documented,
    data: order({ order_id: 1001, status: 'SUCCESS', notify_send_count: 2, records: [record(10011, 121, '1.00', 'IS_SUCCESS', '1'), record(10012, 122, '1.00', 'IS_PICKED_UP', '1')] })
  },
  // refunded: lines returned
  1002: {
    machineNo: documented,
    data: order({ order_id: 1002, status: 'REFUND', notify_send_count: 1, records: [record(10021, 121, '1.00', 'IS_REFUND', '1'), record(10022, 122, '1.00', 'IS_REFUND', '1')] })
  },
  // closed before payment: lines carry no status
  1003: {
    machineNo: documented,
    data: order({ order_id: 1003, status: 'CLOSED', records: [record(10031, 121, '1.00'), record(10032, 122, '1.00')] })
  },
  // pay-by-code revoked: unpaid lines
  1004: {
    machineNo: documented,
    data: order({ order_id: 1004, status: 'REVOKED', amount: '1.00', records: [record(10041, 121, '1.00')] })
  },
  // pay-by-code in progress: unpaid lines
  1005: {
    machineNo: documented,
    data: order({ order_id: 1005, status: 'USERPAYING', amount: '1.00', records: [record(10051, 121, '1.00')] })
  },
  // payment failed: unpaid lines
  1006: {
    machineNo: documented,
    data: order({ order_id: 1006, status: 'PAYERROR', amount: '1.00', records: [record(10061, 121, '1.00')] })
  },
  // pickup-code order: pickup_code_id present, line waiting to be collected
  1007: {
    machineNo: documented,
    data: order({ order_id: 1007, status: 'PICKUPCODE', amount: '1.00', pickup_code_id: 7001, records: [record(10071, 121, '1.00', 'WAITING_PICKED_UP', '0')] })
  },
  // not paid yet: no line status, notify_send_count left out
  1008: {
    machineNo: documented,
    data: order({ order_id: 1008, status: 'NOTPAY', records: [record(10081, 121, '1.00'), record(10082, 122, '1.00')] })
  },
  // test payment whose lines failed and timed out
  1009: {
    machineNo: documented,
    data: order({ order_id: 1009, status: 'TESTPAY', notify_send_count: 2, records: [record(10091, 121, '1.00', 'IS_FAILED', '1'), record(10092, 122, '1.00', 'IS_TIMEOUT', '1')] })
  },
  // every optional field at its zero value: data comes back as {order_id} only
  1010: {
    machineNo: documented,
    data: { order_id: 1010, trade_id: '', date: '', amount: '', status: '', notify_send_count: 0, records: [], pickup_code_id: 0 }
  },
  // protobuf's 64-bit JSON form: ids as strings
  1011: {
    machineNo: documented,
    data: order({
      order_id: '1011',
      status: 'SUCCESS',
      amount: '2.50',
      notify_send_count: 1,
      records: [{ id: '10111', product_id: '201', quantity: 2, price: '2.50', status: 'IS_SUCCESS', notify_sent: '1' }]
    })
  },
  // forward compatibility: enum values and a field the docs don't list
  1012: {
    machineNo: documented,
    data: order({
      order_id: 1012,
      status: 'PARTIAL_REFUND',
      notify_send_count: 1,
      refund_amount: '1.00',
      records: [record(10121, 121, '1.00', 'IS_QUEUED', '0'), record(10122, 122, '1.00', 'IS_REFUND', '1')]
    })
  },
  // progressing by the clock, dispensed successfully
  2001: { machineNo: documented, phases: progressing(2001, 'IS_SUCCESS') },
  // progressing by the clock, dispensing failed
  2002: { machineNo: documented, phases: progressing(2002, 'IS_FAILED') },
  // progressing by the clock, dispensing timed out
  2003: { machineNo: documented, phases: progressing(2003, 'IS_TIMEOUT') },
  // unpaid for too long: the vendor answers 40005
  4005: { machineNo: documented, error: { code: 40005, message: '订单已过期' } },
  // the vendor refuses the order's state: 40006
  4006: { machineNo: documented, error: { code: 40006, message: 'order status invalid' } },
  // belongs to the second machine: asking with any other machine gives 6007
  6007: {
    machineNo: MACHINE.other,
    data: order({ order_id: 6007, status: 'SUCCESS', amount: '1.00', notify_send_count: 1, records: [record(60071, 121, '1.00', 'IS_SUCCESS', '1')] })
  },
  // the 12-digit special merchant machine's order
  12: {
    machineNo: MACHINE.special,
    data: order({ order_id: 12, status: 'SUCCESS', amount: '1.00', notify_send_count: 1, records: [record(121, 301, '1.00', 'IS_PICKED_UP', '1')] })
  }
}

/**
 * Any order asked for on the load machine: paid and dispensed, two lines, everything derived from
 * its id, so a benchmark can ask for as many distinct orders as it likes (each is terminal, so a
 * cache keeps it: what fills a cache to its bounds).
 */
export function loadOrder (orderId: string): VendorOrderData {
  const id = BigInt(orderId)
  return order({ order_id: int64(id), status: 'SUCCESS', notify_send_count: 2, records: [record(int64(id * 10n + 1n), 121, '1.00', 'IS_SUCCESS', '1'), record(int64(id * 10n + 2n), 122, '1.00', 'IS_PICKED_UP', '1')] })
}

/** An int64 as the vendor's JSON carries it: a number while exact, a string beyond. */
const int64 = (value: bigint): Int64 => value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : String(value)

/** The order's data at `elapsedMs` into its run; undefined for error scenarios. */
export function orderDataAt (scenario: ScenarioOrder, elapsedMs: number): VendorOrderData | undefined {
  if (scenario.phases === undefined) return scenario.data
  let current = scenario.phases[0]?.data
  for (const phase of scenario.phases) {
    if (elapsedMs >= phase.fromMs) current = phase.data
  }
  return current
}
