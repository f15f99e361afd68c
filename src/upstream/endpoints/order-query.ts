import { z } from 'zod'
import type { VendorEndpoint } from '../endpoint.js'
import { badResponse, parseData } from '../protocol.js'
import { orAbsentWhenEmpty, vendorFlag, vendorInt, vendorMoney } from '../schemas.js'

/**
 * The merchant's own order number: the documented example is 32 hex digits, and payment
 * providers allow letters, digits and a few symbols, so any 1-64 printable ASCII characters
 * pass, except those that only markup needs.
 */
const tradeId = z.string()
  .regex(/^[\x21-\x7E]{1,64}$/, 'not 1-64 printable ASCII characters')
  .refine((value) => !/[<>"'&\\`]/.test(value), 'contains markup characters')

/**
 * Lines of one order. A vending order has a handful; the cap is far above any real one and
 * bounds what one vendor answer can cost to normalize and serve.
 */
export const MAX_ORDER_LINES = 200

export const VendorRecordSchema = z.object({
  id: vendorInt.optional(),
  product_id: vendorInt.optional(),
  quantity: vendorInt.optional(),
  price: vendorMoney.optional(),
  status: z.string().optional(),
  notify_sent: vendorFlag.optional()
})

/** `order_id` is required: protobuf never leaves out a non-zero id, and every order has one. */
export const VendorOrderSchema = z.object({
  order_id: vendorInt,
  trade_id: orAbsentWhenEmpty(tradeId),
  // YYYY-MM-DD, a real calendar day
  date: orAbsentWhenEmpty(z.iso.date()),
  amount: vendorMoney.optional(),
  status: z.string().optional(),
  notify_send_count: vendorInt.optional(),
  records: z.array(VendorRecordSchema).max(MAX_ORDER_LINES).optional(),
  pickup_code_id: vendorInt.optional()
})

export type VendorRecord = z.infer<typeof VendorRecordSchema>
export type VendorOrder = z.infer<typeof VendorOrderSchema>

export interface OrderQueryParams {
  orderId: number
  machineNo: string
}

/** The vendor's order query: one order of one machine. */
export const orderQuery: VendorEndpoint<OrderQueryParams, VendorOrder> = {
  path: ({ orderId }) => `/api/openapi/v1/orders/${orderId}`,
  payload: ({ machineNo }) => ({ machine_no: machineNo }),
  idempotent: true,
  parse (data, { orderId }, status) {
    if (data === undefined || data === null) throw badResponse(status, 'The vendor answered success without order data.')
    // checked before parsing, so an answer of countless lines costs nothing to refuse
    const records = (data as { records?: unknown }).records
    if (Array.isArray(records) && records.length > MAX_ORDER_LINES) {
      throw badResponse(status, `The vendor sent an order of ${records.length} lines; at most ${MAX_ORDER_LINES} are accepted.`)
    }
    const order = parseData(VendorOrderSchema, data, status, 'order')
    if (order.order_id !== orderId) throw badResponse(status, `The vendor answered with order ${order.order_id} for order ${orderId}.`)
    return order
  },
  logFields: ({ orderId }) => ({ orderId }),
  spanAttributes: ({ orderId }) => ({ 'vending.order.id': orderId })
}
