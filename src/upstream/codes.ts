import { AppError, type ErrorCode } from '../errors/catalogue.js'

/**
 * Vendor code → our error. The vendor has published two code tables (5-digit codes on the
 * Open API pages, 4-digit ones in a later table) and both appear in answers, so both are here.
 */
export const VENDOR_CODE_TABLE: ReadonlyArray<readonly [ErrorCode, readonly number[], string]> = [
  ['ORDER_NOT_FOUND', [80002, 4004], 'The vendor has no such order.'],
  ['MACHINE_NOT_FOUND', [30001, 30003, 6026, 6007], 'The vendor has no such machine for this merchant, or the order is not on it.'],
  ['ORDER_EXPIRED', [40005, 6042], 'The order expired before it was paid.'],
  ['ORDER_STATE_INVALID', [40006, 6043], 'The vendor reports the order in an invalid state.'],
  ['MACHINE_NOT_OPERATING', [30004], 'The machine is not in operation.'],
  ['MACHINE_OFFLINE', [30002, 4008, 6025], 'The machine is offline; try again shortly.'],
  // Our credentials, signature or request are wrong: nothing the caller can fix.
  ['UPSTREAM_REJECTED', [10008, 10013, 10014, 10009, 10010, 1000, 4006, 6044, 400, 10001, 4003], 'The vendor rejected this service\'s request.']
]

const BY_CODE = new Map<number, [ErrorCode, string]>(
  VENDOR_CODE_TABLE.flatMap(([error, codes, detail]) => codes.map((code) => [code, [error, detail]] as const))
)

/** Maps a non-zero vendor code (in an answer of HTTP `upstreamStatus`) to the error our caller sees; unknown codes are UPSTREAM_ERROR. */
export function errorForVendorCode (vendorCode: number, upstreamStatus?: number): AppError {
  const [code, detail] = BY_CODE.get(vendorCode) ?? ['UPSTREAM_ERROR', `The vendor answered with an unexpected code ${vendorCode}.`]
  return new AppError(code, { detail, vendorCode, upstreamStatus })
}
