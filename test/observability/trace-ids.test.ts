import t from 'tap'
import { pooledIdGenerator } from '../../src/observability/trace-ids.js'

t.test('trace and span ids: lowercase hex of the W3C lengths, distinct, across pool refills', async (t) => {
  // a pool of 24 bytes is 48 hex characters: one trace id and one span id, then a refill
  const ids = pooledIdGenerator(24)
  const traceIds = Array.from({ length: 200 }, () => ids.generateTraceId())
  const spanIds = Array.from({ length: 200 }, () => ids.generateSpanId())
  t.ok(traceIds.every((id) => /^[0-9a-f]{32}$/.test(id)), 'trace ids: 32 hex digits')
  t.ok(spanIds.every((id) => /^[0-9a-f]{16}$/.test(id)), 'span ids: 16 hex digits')
  t.equal(new Set([...traceIds, ...spanIds]).size, 400, 'no id twice')
  // an id taken across the end of a pool would be short or repeat the last one's digits
  const mixed = Array.from({ length: 300 }, (_, i) => i % 3 === 0 ? ids.generateTraceId() : ids.generateSpanId())
  t.ok(mixed.every((id, i) => id.length === (i % 3 === 0 ? 32 : 16)), 'never cut at a pool\'s end')
})
