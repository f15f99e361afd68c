import { z } from 'zod'

/**
 * Lenient schemas of what the vendor sends. Its JSON comes from protobuf: zero, empty and
 * false fields are left out, 64-bit integers may arrive as strings, and new fields and
 * enum values appear without notice. So: everything optional but the order id, integers as
 * numbers or digit strings, enums as plain strings (the normalizer maps unknown ones), unknown
 * keys dropped.
 */

const vendorInt = z.union([
  z.number().int(),
  z.string().regex(/^-?\d{1,16}$/).transform(Number)
]).pipe(z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER))

/** Money as the vendor writes it ("3.00"); a plain JSON number is tolerated. */
const vendorMoney = z.union([z.string(), z.number().transform(String)])
  .pipe(z.string().regex(/^\d+(\.\d+)?$/, 'not a decimal amount'))

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
  trade_id: z.string().optional(),
  date: z.string().optional(),
  amount: vendorMoney.optional(),
  status: z.string().optional(),
  notify_send_count: vendorInt.optional(),
  records: z.array(VendorRecordSchema).optional(),
  pickup_code_id: vendorInt.optional()
})

const EnvelopeSchema = z.object({
  // protobuf leaves out code 0, so a missing code is success
  code: z.union([z.number().int(), z.string().regex(/^-?\d{1,9}$/).transform(Number)]).optional().default(0),
  message: z.string().optional(),
  data: z.unknown().optional()
})

/**
 * The vendor's `{code, message, data}` envelope, or null when the body is not one: a JSON
 * object carrying at least one of the three keys, each of the expected type.
 */
export function parseEnvelope (body: unknown): Envelope | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null
  if (!('code' in body || 'message' in body || 'data' in body)) return null
  const result = EnvelopeSchema.safeParse(body)
  return result.success ? result.data : null
}

export type VendorRecord = z.infer<typeof VendorRecordSchema>
export type VendorOrder = z.infer<typeof VendorOrderSchema>
export type Envelope = z.infer<typeof EnvelopeSchema>
