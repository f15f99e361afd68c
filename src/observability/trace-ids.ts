import { randomBytes } from 'node:crypto'

// Trace and span ids for the tracer provider (src/observability/tracing.ts), cut from a pool of
// random hex. The SDK's RandomIdGenerator writes Math.random() into a buffer and hex-encodes it
// for every id: three ids per traced cache hit, about 2 µs of its profile. Here
// one crypto random fill and one hex encoding serve 256 trace ids or 512 span ids.

/** bytes of randomness drawn at a time */
const POOL_BYTES = 4096
const INVALID_TRACE_ID = '0'.repeat(32)
const INVALID_SPAN_ID = '0'.repeat(16)

/** The SDK's IdGenerator (@opentelemetry/sdk-trace), structurally: lowercase hex, 32 and 16 characters, never all zeros. */
export interface IdGenerator {
  generateTraceId: () => string
  generateSpanId: () => string
}

export function pooledIdGenerator (poolBytes = POOL_BYTES): IdGenerator {
  let pool = ''
  let at = 0
  const take = (length: number, invalid: string): string => {
    for (;;) {
      if (at + length > pool.length) {
        pool = randomBytes(poolBytes).toString('hex')
        at = 0
      }
      const id = pool.slice(at, at + length)
      at += length
      // all zeros is the W3C's invalid id: one chance in 2^64 for a span id, drawn again
      if (id !== invalid) return id
    }
  }
  return {
    generateTraceId: () => take(32, INVALID_TRACE_ID),
    generateSpanId: () => take(16, INVALID_SPAN_ID)
  }
}
