import { z } from 'zod'

/**
 * Lenient schemas of what the vendor sends, for every endpoint's answer. Its JSON comes from
 * protobuf: zero, empty and false fields are left out, 64-bit integers may arrive as strings,
 * and new fields and enum values appear without notice. So: fields optional unless every
 * answer has them, integers as numbers or digit strings, enums as plain strings (the
 * normalizer maps unknown ones), unknown keys dropped. A documented field that is present
 * must fit its documented format.
 */

export const vendorInt = z.union([
  z.number().int(),
  z.string().regex(/^-?\d{1,16}$/).transform(Number)
]).pipe(z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER))

/** Money as the vendor writes it ("3.00"); a plain JSON number is tolerated. No real amount needs more than 24 characters. */
export const vendorMoney = z.union([z.string(), z.number().transform(String)])
  .pipe(z.string().max(24, 'longer than any amount').regex(/^\d+(\.\d+)?$/, 'not a decimal amount'))

/** protobuf's zero string: the same as absent. Only a gateway that emits unpopulated fields sends it. */
export function orAbsentWhenEmpty<T extends z.ZodType<string>> (schema: T) {
  return z.union([z.literal('').transform(() => undefined), schema]).optional()
}

/** A flag is "1" when set and "0" or absent otherwise; tolerate 1/true too. */
export const vendorFlag = z.union([z.string(), z.number(), z.boolean()])
  .transform((value) => value === '1' || value === 1 || value === true)

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

export type VendorEnvelope = z.infer<typeof VendorEnvelopeSchema>
