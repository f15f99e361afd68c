import { z } from 'zod'

/**
 * Lenient schemas of what the vendor sends. Its JSON comes from protobuf: zero, empty and
 * false fields are left out, 64-bit integers may arrive as strings, and new fields and
 * enum values appear without notice. So: everything optional but the order id, integers as
 * numbers or digit strings, enums as plain strings (the normalizer maps unknown ones), unknown
 * keys dropped. A documented field that is present must fit its documented format.
 */

const vendorInt = z.union([
  z.number().int(),
  z.string().regex(/^-?\d{1,16}$/).transform(Number)
]).pipe(z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER))

/** Money as the vendor writes it ("3.00"); a plain JSON number is tolerated. No real amount needs more than 24 characters. */
const vendorMoney = z.union([z.string(), z.number().transform(String)])
  .pipe(z.string().max(24, 'longer than any amount').regex(/^\d+(\.\d+)?$/, 'not a decimal amount'))

/** protobuf's zero string: the same as absent. Only a gateway that emits unpopulated fields sends it. */
function orAbsentWhenEmpty<T extends z.ZodType<string>> (schema: T) {
  return z.union([z.literal('').transform(() => undefined), schema]).optional()
}

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

/** notify_sent is "1" when pushed and "0" or absent otherwise; tolerate 1/true too. */
const vendorFlag = z.union([z.string(), z.number(), z.boolean()])
  .transform((value) => value === '1' || value === 1 || value === true)

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

const VendorEnvelopeSchema = z.object({
  // protobuf leaves out code 0, so a missing code is success
  code: z.union([z.number().int(), z.string().regex(/^-?\d{1,9}$/).transform(Number)]).optional().default(0),
  message: z.string().optional(),
  data: z.unknown().optional()
})

/**
 * The vendor's `{code, message, data}` envelope, or null when the body is not one: a JSON
 * object carrying at least one of the three keys, each of the expected type.
 */
export function parseEnvelope (body: unknown): VendorEnvelope | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null
  if (!('code' in body || 'message' in body || 'data' in body)) return null
  const result = VendorEnvelopeSchema.safeParse(body)
  return result.success ? result.data : null
}

export type VendorRecord = z.infer<typeof VendorRecordSchema>
export type VendorOrder = z.infer<typeof VendorOrderSchema>
export type VendorEnvelope = z.infer<typeof VendorEnvelopeSchema>
