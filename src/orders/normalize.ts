import type { VendorOrder, VendorRecord } from '../upstream/endpoints/order-query.js'
import { AppError } from '../errors/catalogue.js'
import { ITEM_STATUSES, ORDER_STATUSES, type Item, type ItemStatus, type Order, type OrderStatus } from './schema.js'

/** Called for every enum value this service does not know yet, so the caller can log it. */
export type OnUnknownEnum = (field: 'status' | 'items.status', value: string) => void

const PAID: ReadonlySet<OrderStatus> = new Set(['SUCCESS', 'PICKUPCODE', 'TESTPAY'])
const FINAL_ORDER: ReadonlySet<OrderStatus> = new Set(['REFUND', 'CLOSED', 'REVOKED', 'PAYERROR'])
const FINAL_ITEM: ReadonlySet<ItemStatus | null> = new Set(['IS_PICKED_UP', 'IS_REFUND', 'IS_SUCCESS', 'IS_FAILED', 'IS_TIMEOUT'])

/**
 * The vendor's protobuf-shaped order → our public Order: every field present (protobuf left
 * out the zero ones), camelCase, money with two decimals, unknown enum values as UNKNOWN.
 */
export function normalizeOrder (vendor: VendorOrder, orderId: number, onUnknown: OnUnknownEnum = () => {}): Order {
  const status = toEnum(ORDER_STATUSES, vendor.status, (value) => onUnknown('status', value))
  const items = (vendor.records ?? []).map((record) => normalizeItem(record, onUnknown))
  return {
    // the vendor client accepts no order whose order_id is not the one asked for
    id: orderId,
    tradeId: vendor.trade_id ?? null,
    date: vendor.date ?? null,
    amount: toMoney(vendor.amount),
    status,
    notifySendCount: vendor.notify_send_count ?? 0,
    pickupCodeId: vendor.pickup_code_id ?? null,
    terminal: isTerminal(status, items),
    items
  }
}

function normalizeItem (record: VendorRecord, onUnknown: OnUnknownEnum): Item {
  return {
    id: record.id ?? 0,
    productId: record.product_id ?? 0,
    quantity: record.quantity ?? 0,
    price: toMoney(record.price),
    // absent until the order is paid
    status: record.status === undefined ? null : toEnum(ITEM_STATUSES, record.status, (value) => onUnknown('items.status', value)),
    notifySent: record.notify_sent ?? false
  }
}

/**
 * True when nothing can change any more: the order ended unpaid or refunded, or it is paid
 * and every one of its (at least one) lines reached a final delivery status.
 */
export function isTerminal (status: OrderStatus, items: ReadonlyArray<Pick<Item, 'status'>>): boolean {
  if (FINAL_ORDER.has(status)) return true
  return PAID.has(status) && items.length > 0 && items.every((item) => FINAL_ITEM.has(item.status))
}

function toEnum<T extends string> (known: readonly T[], value: string | undefined, onUnknown: (value: string) => void): T | 'UNKNOWN' {
  // protobuf leaves out an empty enum string too; that is as unknown as a new value
  if (value !== undefined && (known as readonly string[]).includes(value) && value !== 'UNKNOWN') return value as T
  onUnknown(value ?? '')
  return 'UNKNOWN'
}

/**
 * Decimal string → exactly two decimals, by string manipulation, never through a float.
 * A missing amount is protobuf's zero. Digits past the second are only dropped when they are
 * zeros: money is never rounded silently.
 */
export function toMoney (amount: string | undefined): string {
  if (amount === undefined) return '0.00'
  const [whole = '0', fraction = ''] = amount.split('.')
  if (/[1-9]/.test(fraction.slice(2))) {
    throw new AppError('UPSTREAM_BAD_RESPONSE', { detail: `The vendor sent an amount with more than two decimals: ${amount}.` })
  }
  const digits = whole.replace(/^0+(?=\d)/, '')
  return `${digits}.${fraction.slice(0, 2).padEnd(2, '0')}`
}
