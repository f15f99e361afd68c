import { z } from 'zod'
import { AppError, ERROR_KINDS, type ErrorCode } from '../../errors/catalogue.js'
import { VENDOR_CODE_TABLE } from '../../upstream/codes.js'

/** The longest Retry-After a failure told to other replicas may carry, in seconds: an hour. */
export const MAX_SHARED_RETRY_AFTER_S = 3600

const ERROR_CODES = Object.keys(ERROR_KINDS) as [ErrorCode, ...ErrorCode[]]

/**
 * A failed vendor call as the lease holder tells the waiters: a code of the catalogue and a
 * whole number of seconds for Retry-After, nothing else. No text: whatever words another
 * replica (or whoever signs in its place) sends never reach a caller. Unknown keys, a `detail`
 * among them, fail the schema.
 */
export const SharedFailureSchema = z.strictObject({
  code: z.enum(ERROR_CODES),
  retryAfter: z.number().int().min(0).max(MAX_SHARED_RETRY_AFTER_S).optional()
})

export type SharedFailure = z.infer<typeof SharedFailureSchema>

/** The error as the holder tells it: its code, and its Retry-After as the schema takes it. */
export function toSharedFailure (error: AppError): SharedFailure {
  const { code, retryAfter } = error
  return retryAfter === undefined ? { code } : { code, retryAfter: Math.min(MAX_SHARED_RETRY_AFTER_S, Math.max(0, Math.ceil(retryAfter))) }
}

// what this replica says of a vendor's code itself; none names the order, so the key adds nothing
const OWN_WORDING = new Map<ErrorCode, string>(VENDOR_CODE_TABLE.map(([code, , detail]) => [code, detail]))

/**
 * The error a waiter answers with, in this replica's own words: the wording it gives that code
 * when it asks the vendor itself (src/upstream/codes.ts), else the catalogue's title.
 */
export function sharedFailureError ({ code, retryAfter }: SharedFailure): AppError {
  return new AppError(code, { detail: ownWording(code), retryAfter })
}

/** What this replica says of `code` itself (undefined: the catalogue's title): for every error read from Redis, never the writer's words. */
export const ownWording = (code: ErrorCode): string | undefined => OWN_WORDING.get(code)
