import { z } from 'zod'

/** Order statuses the vendor documents, plus UNKNOWN for values it adds later. */
export const ORDER_STATUSES = ['SUCCESS', 'REFUND', 'CLOSED', 'REVOKED', 'USERPAYING', 'PAYERROR', 'PICKUPCODE', 'NOTPAY', 'TESTPAY', 'UNKNOWN'] as const
/** Delivery statuses of one order line, plus UNKNOWN. */
export const ITEM_STATUSES = ['WAITING_PICKED_UP', 'IS_PICKED_UP', 'IS_REFUND', 'IS_DELIVERING', 'IS_SUCCESS', 'IS_FAILED', 'IS_TIMEOUT', 'UNKNOWN'] as const

export type OrderStatus = typeof ORDER_STATUSES[number]
export type ItemStatus = typeof ITEM_STATUSES[number]

const MAX_ID = Number.MAX_SAFE_INTEGER
const Money = z.string().regex(/^\d+\.\d{2}$/).meta({ description: 'Decimal amount with two decimals, never a float.', example: '1.00' })

export const ItemSchema = z.object({
  id: z.number().int().meta({ description: 'Order line (record) id.', example: 70 }),
  productId: z.number().int().meta({ description: 'Product id.', example: 121 }),
  quantity: z.number().int().meta({ description: 'Quantity.', example: 1 }),
  price: Money.meta({ description: 'Line total.', example: '1.00' }),
  status: z.enum(ITEM_STATUSES).nullable().meta({
    description: 'Dispensing status: WAITING_PICKED_UP waiting to dispense, IS_DELIVERING dispensing, IS_SUCCESS dispensed, IS_FAILED failed, IS_TIMEOUT timed out (no answer from the machine within 120 s), IS_PICKED_UP picked up, IS_REFUND cancelled and returned. UNKNOWN for a value this service does not know yet. null while the order is unpaid.',
    example: 'IS_DELIVERING'
  }),
  notifySent: z.boolean().meta({ description: 'Whether the vendor pushed this line\'s delivery status to the merchant.', example: true })
}).meta({ id: 'OrderItem', description: 'One line of an order.' })

export const ORDER_EXAMPLE = {
  id: 54,
  tradeId: '3f2a58ad69b74e86b8a1a3da6fd75cc1',
  date: '2024-04-26',
  amount: '3.00',
  status: 'SUCCESS',
  notifySendCount: 1,
  pickupCodeId: null,
  terminal: false,
  items: [
    { id: 70, productId: 121, quantity: 1, price: '1.00', status: 'IS_DELIVERING', notifySent: true },
    { id: 71, productId: 122, quantity: 1, price: '1.00', status: 'WAITING_PICKED_UP', notifySent: false },
    { id: 72, productId: 131, quantity: 1, price: '1.00', status: 'WAITING_PICKED_UP', notifySent: false }
  ]
} as const

export const OrderSchema = z.object({
  id: z.number().int().positive().meta({ description: 'Vendor order id.', example: 54 }),
  tradeId: z.string().nullable().meta({ description: 'The merchant\'s own order number; null when the vendor leaves it out.', example: '3f2a58ad69b74e86b8a1a3da6fd75cc1' }),
  date: z.string().nullable().meta({ description: 'Order date (YYYY-MM-DD) as the vendor reports it; null when left out.', example: '2024-04-26' }),
  amount: Money.meta({ description: 'Order total.', example: '3.00' }),
  status: z.enum(ORDER_STATUSES).meta({
    description: 'Payment status: NOTPAY not paid, USERPAYING customer paying, SUCCESS paid, PAYERROR payment failed, REFUND refunded, CLOSED closed (unpaid orders close after 20 minutes), REVOKED revoked, PICKUPCODE pickup-code order, TESTPAY test order. UNKNOWN for a value this service does not know yet.',
    example: 'SUCCESS'
  }),
  notifySendCount: z.number().int().nonnegative().meta({ description: 'Delivery notifications the vendor has sent.', example: 1 }),
  pickupCodeId: z.number().int().nullable().meta({ description: 'Pickup-code id; null when the order has none.', example: null }),
  terminal: z.boolean().meta({ description: 'True when neither the order nor any line can change any more: stop polling.', example: false }),
  items: z.array(ItemSchema).meta({ description: 'Order lines; empty when the vendor sent none.' })
}).meta({ id: 'Order', description: 'The status of one vending-machine order.', example: ORDER_EXAMPLE })

export type Order = z.infer<typeof OrderSchema>
export type Item = z.infer<typeof ItemSchema>

const ID_FORM = 'must be a positive integer: digits only, no sign, no leading zero'
const ID_RANGE = `must be at most ${MAX_ID}`
/** An id of 16 digits or more: over 2^53-1 or not, one message. */
const isLongId = (value: unknown): boolean => typeof value === 'string' && /^[1-9]\d{15,}$/.test(value)

export const OrderParamsSchema = z.object({
  id: z.string()
    .regex(/^[1-9]\d{0,15}$/, { error: (issue) => isLongId(issue.input) ? ID_RANGE : ID_FORM })
    // a 16-digit id can still be over 2^53-1; anything the pattern refused is reported once, above
    .refine((value) => !/^[1-9]\d{0,15}$/.test(value) || Number(value) <= MAX_ID, ID_RANGE)
    .transform(Number)
    .meta({ description: 'Vendor order id: a positive integer, digits only.', example: '54' })
})

export const OrderQuerySchema = z.object({
  machine: z.string({ error: 'is required' })
    .regex(/^\d{8,20}$/, 'must be 8 to 20 digits (8 normally; longer for special merchants)')
    .meta({ description: 'Machine number: 8 digits normally, up to 20 for special merchants.', example: '16327129' })
})
