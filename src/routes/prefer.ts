/** The longest wait a long poll may ask for, in seconds; longer is clamped to it. */
export const MAX_WAIT_S = 30

// one preference of RFC 7240: `wait=N`, parameters after `;` ignored
const WAIT = /^wait\s*=\s*"?(\d{1,9})"?(?:\s*;.*)?$/i

/**
 * The `wait` preference of a Prefer header (RFC 7240), in whole seconds at most MAX_WAIT_S;
 * undefined when there is none, it is 0, or it is malformed (a preference not understood is ignored).
 */
export function preferredWait (header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined
  const preferences = (Array.isArray(header) ? header.join(',') : header).split(',')
  for (const preference of preferences) {
    const match = WAIT.exec(preference.trim())
    if (match === null) continue
    const seconds = Number(match[1])
    return seconds === 0 ? undefined : Math.min(seconds, MAX_WAIT_S)
  }
  return undefined
}
