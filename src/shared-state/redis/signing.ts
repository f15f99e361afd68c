import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto'

/** The keys values and messages are signed with: the current one signs and verifies, the previous one (a rotation) only verifies. */
export interface SigningKeys {
  /** REDIS_SIGNING_KEY; null outside production when unset: this process's own random key */
  current: string | null
  /** REDIS_SIGNING_KEY_PREVIOUS */
  previous?: string | null | undefined
}

/** The format's version: what Redis holds is `v1.<HMAC, base64url>.<payload>`. */
const VERSION = 'v1.'
/** HMAC-SHA256 is 32 bytes: 43 base64url characters, no padding. */
const MAC_CHARS = 43

/** What a seal adds to its payload, and room for the JSON around an order: the margin over VENDOR_MAX_BODY_BYTES. */
export const SEAL_OVERHEAD_CHARS = 4096

let processKey: string | undefined

/**
 * The key a process signs with when REDIS_SIGNING_KEY is unset (never in production): random, made
 * once per process, so what it wrote verifies only here. Other processes' values are then misses
 * (rejected as `signature`), never forgeable by whoever knows a documented default.
 */
export function processSigningKey (): string {
  processKey ??= randomBytes(32).toString('hex')
  return processKey
}

/**
 * Seals and opens what replicas share through Redis. Each value or message carries an
 * HMAC-SHA256 over its full name (the prefixed key or channel) and its payload, so a value moved to
 * another key, a message sent on another channel, or anything written without the fleet's key, does
 * not open. The keys are held as KeyObjects and appear nowhere else: not in errors, not in logs.
 */
export function createSigner (keys: SigningKeys, prefix: string, { maxChars = Number.POSITIVE_INFINITY }: { maxChars?: number } = {}) {
  const current = createSecretKey(Buffer.from(keys.current ?? processSigningKey(), 'utf8'))
  const verifiers: KeyObject[] = [current]
  if (keys.previous !== null && keys.previous !== undefined) verifiers.push(createSecretKey(Buffer.from(keys.previous, 'utf8')))

  const mac = (key: KeyObject, name: string, payload: string): Buffer =>
    createHmac('sha256', key).update(prefix).update(name).update('\n').update(payload).digest()

  return {
    /** the payload as stored under (or sent on) `name`, unprefixed: signed with the current key */
    seal (name: string, payload: string): string {
      return `${VERSION}${mac(current, name, payload).toString('base64url')}.${payload}`
    },
    /** the payload of what was stored under (or sent on) `name`, or undefined when no accepted key signed it there */
    open (name: string, sealed: string): string | undefined {
      // nothing bigger than any value a replica writes is hashed, let alone parsed
      if (sealed.length > maxChars) return undefined
      const end = VERSION.length + MAC_CHARS
      if (!sealed.startsWith(VERSION) || sealed.charCodeAt(end) !== 0x2e /* . */) return undefined
      // compared as text: one HMAC has one base64url spelling (its last character's spare bits are zero)
      const given = Buffer.from(sealed.slice(VERSION.length, end), 'latin1')
      const payload = sealed.slice(end + 1)
      // every accepted key is tried, so the time does not tell which one matched
      let valid = false
      for (const key of verifiers) valid = timingSafeEqual(given, Buffer.from(mac(key, name, payload).toString('base64url'), 'latin1')) || valid
      return valid ? payload : undefined
    },
    /** longer than anything a replica of this fleet writes: not opened (a value planted to cost every reader) */
    tooBig: (sealed: string): boolean => sealed.length > maxChars,
    /** JSON data sealed for `name` */
    sealJson (name: string, value: unknown): string {
      return this.seal(name, JSON.stringify(value))
    },
    /** the JSON data sealed for `name`: `signature` when no accepted key sealed it there, `schema` when it is not JSON */
    openJson (name: string, sealed: string): { value: unknown } | { rejected: 'size' | 'signature' | 'schema' } {
      if (this.tooBig(sealed)) return { rejected: 'size' }
      const payload = this.open(name, sealed)
      if (payload === undefined) return { rejected: 'signature' }
      try {
        return { value: JSON.parse(payload) }
      } catch {
        return { rejected: 'schema' }
      }
    }
  }
}

export type Signer = ReturnType<typeof createSigner>
