/** What the deploy examples hold where an operator must put a real value (deploy/kubernetes). */
export const PLACEHOLDER = 'REPLACE_ME'
/** The examples' stand-in host domain: RFC 6761 reserves `.invalid`, so it never resolves. */
export const PLACEHOLDER_DOMAIN = 'example.invalid'

/** How a setting names hosts: not at all, in a URL, or as a comma-separated list of host:port. */
export type PlaceholderKind = 'text' | 'url' | 'addresses'

/**
 * Why a setting's value is still an example's placeholder, or undefined when it is not: REPLACE_ME
 * anywhere in it, or for a URL or host:port list a host under example.invalid. Never repeats the value (secrets).
 */
export function placeholderReason (value: string, kind: PlaceholderKind): string | undefined {
  if (value.includes(PLACEHOLDER)) return `still holds the example's placeholder ${PLACEHOLDER}`
  // an unparseable URL or address is the format check's to report
  const hosts = kind === 'url'
    ? [URL.parse(value)?.hostname]
    : kind === 'addresses' ? value.split(',').map((entry) => entry.trim().replace(/:\d*$/, '').toLowerCase()) : []
  if (hosts.some((host) => host === PLACEHOLDER_DOMAIN || host?.endsWith(`.${PLACEHOLDER_DOMAIN}`) === true)) return `its host is the example's placeholder (under ${PLACEHOLDER_DOMAIN})`
  return undefined
}
