/** Longest vendor-provided text kept in a log line or an error detail: enough to recognise a value. */
export const MAX_LOGGED_CHARS = 200

/**
 * Vendor-provided text, bounded before it goes into a log line or an error detail: the vendor
 * (or whatever answers in its place) decides how long its strings are, and one line must not
 * carry a megabyte. A cut value says how long it was.
 */
export function forLog (value: string, maxChars = MAX_LOGGED_CHARS): string {
  if (value.length <= maxChars) return value
  // never cut between the two halves of a surrogate pair
  const end = /[\uD800-\uDBFF]/.test(value.charAt(maxChars - 1)) ? maxChars - 1 : maxChars
  return `${value.slice(0, end)}…(${value.length} chars)`
}
