/** What the deploy examples hold where an operator must put a real value (deploy/kubernetes). */
export const PLACEHOLDER = 'REPLACE_ME'
/** The examples' stand-in host domain: RFC 6761 reserves `.invalid`, so it never resolves. */
export const PLACEHOLDER_DOMAIN = 'example.invalid'

/**
 * Why a setting's value is still an example's placeholder, or undefined when it is not: REPLACE_ME
 * anywhere in it, or for a URL a host under example.invalid. Never repeats the value (secrets).
 */
export function placeholderReason (value: string, kind: 'text' | 'url'): string | undefined {
  if (value.includes(PLACEHOLDER)) return `still holds the example's placeholder ${PLACEHOLDER}`
  if (kind !== 'url') return undefined
  // an unparseable URL is the URL check's to report
  const host = URL.parse(value)?.hostname
  if (host === PLACEHOLDER_DOMAIN || host?.endsWith(`.${PLACEHOLDER_DOMAIN}`) === true) return `its host is the example's placeholder (under ${PLACEHOLDER_DOMAIN})`
  return undefined
}
