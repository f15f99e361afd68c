import { sameDigest, secretDigest } from './constant-time.js'

/**
 * Returns the id of the configured key `presented` equals, or undefined. Both sides are hashed
 * first, so every comparison is between equal-length digests, and every configured key is
 * compared on every call: neither the key's length nor which key matched shows in the timing.
 */
export function createKeyMatcher (keys: readonly string[]): (presented: string) => string | undefined {
  const digests = keys.map((key) => {
    const digest = secretDigest(key)
    return { digest, id: `key:${digest.subarray(0, 8).toString('hex')}` }
  })
  return (presented) => {
    const digest = secretDigest(presented)
    let matched: string | undefined
    for (const key of digests) {
      if (sameDigest(digest, key.digest)) matched = key.id
    }
    return matched
  }
}
