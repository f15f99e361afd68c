import { z } from 'zod'
import { AppError, ERROR_KINDS, type ErrorCode } from '../../errors/catalogue.js'
import type { Outcome } from '../../orders/outcome.js'
import { OrderSchema } from '../../orders/schema.js'

/** The error kinds an outcome may keep (ERROR_KINDS' `cache`): the only codes a stored error may have. */
const KEPT_CODES = (Object.keys(ERROR_KINDS) as ErrorCode[]).filter((code) => ERROR_KINDS[code].cache !== undefined) as [ErrorCode, ...ErrorCode[]]

const Times = { storedAt: z.number().int(), freshMs: z.number().int().nonnegative() }

/** An outcome as Redis holds it: our normalized order (or the kept error's code), never the vendor's words. */
const StoredOutcome = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('order'), order: OrderSchema, ...Times }),
  z.object({ kind: z.literal('error'), code: z.enum(KEPT_CODES), detail: z.string(), vendorCode: z.number().int().optional(), ...Times })
])

/** The outcome as plain JSON data: the order as it is, a kept error as its code and detail. */
export function toStored (outcome: Outcome): object {
  if (outcome.kind === 'order') return outcome
  const { error, storedAt, freshMs } = outcome
  return { kind: 'error', code: error.code, detail: error.detail, vendorCode: error.vendorCode, storedAt, freshMs }
}

export function encodeOutcome (outcome: Outcome): string {
  return JSON.stringify(toStored(outcome))
}

export function decodeOutcome (text: string): Outcome | undefined {
  try {
    return fromStored(JSON.parse(text))
  } catch {
    return undefined
  }
}

/** Stored data read back through its schema; undefined when it does not parse (another version wrote it, or garbage). */
export function fromStored (json: unknown): Outcome | undefined {
  const parsed = StoredOutcome.safeParse(json)
  if (!parsed.success) return undefined
  const stored = parsed.data
  if (stored.kind === 'order') return stored
  const { code, detail, vendorCode, storedAt, freshMs } = stored
  return { kind: 'error', error: new AppError(code, { detail, vendorCode }), storedAt, freshMs }
}
