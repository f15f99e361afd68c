import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api'
import t from 'tap'
import { carryContext } from '../../src/observability/trace-context.js'
import type { OutcomeStore } from '../../src/orders/outcome-store.js'
import { createOrdersService, type OrdersVendor } from '../../src/orders/service.js'
import { runInThisProcess } from '../../src/shared-state/memory/coalescing.js'
import { createMemoryOutcomeStore } from '../../src/shared-state/memory/outcome-store.js'
import type { OrderQueryParams } from '../../src/upstream/endpoints/order-query.js'
import { recordingTracer } from '../fixtures/spans.js'

const CACHE = { enabled: true, maxEntries: 100, maxBytes: 1024 * 1024, freshMs: 60_000, terminalMs: 60_000, notFoundMs: 0, staleMs: 0 }
const MACHINE = '16327129'
const activeSpanId = (): string | undefined => trace.getSpan(context.active())?.spanContext().spanId

/** The orders service with a tracer, over a memory store and a vendor that both note which span is active when called. */
function setup (t: Parameters<typeof recordingTracer>[0], storeTraced: boolean, cacheEnabled = true) {
  const { tracer, exporter } = recordingTracer(t)
  const seen = { store: [] as Array<string | undefined>, vendor: [] as Array<string | undefined> }
  const cache = { ...CACHE, enabled: cacheEnabled }
  const memory = createMemoryOutcomeStore({ ...cache, now: () => 0 })
  const store: OutcomeStore = {
    ...memory,
    get: async (key) => {
      seen.store.push(activeSpanId())
      return await memory.get(key)
    }
  }
  const vendor: OrdersVendor = {
    call: async (endpoint, params) => {
      seen.vendor.push(activeSpanId())
      return endpoint.parse({ order_id: (params as OrderQueryParams).orderId }, params, 200)
    }
  }
  const service = createOrdersService({ vendor, cache, store, coalescing: runInThisProcess, tracer, storeTraced, now: () => 0 })
  // a sampled request's logger, as the tracing plugin leaves it: its span is the lookups' parent
  const request = tracer.startSpan('GET /orders/:id')
  const log = { info () {}, warn () {}, error () {} }
  carryContext(log, trace.setSpan(ROOT_CONTEXT, request))
  const lookups = () => exporter.getFinishedSpans().filter((span) => span.name === 'cache lookup')
  return { service, log, request, seen, lookups }
}

t.test('a lookup is a child of the request its logger carries; a hit runs in no async context, a miss\'s vendor call in the lookup\'s', async (t) => {
  const { service, log, request, seen, lookups } = setup(t, false)
  t.equal(activeSpanId(), undefined, 'no async context is active around the calls')
  await service.getOrder(7, MACHINE, log)
  await service.getOrder(7, MACHINE, log)
  const [miss, hit] = lookups()
  t.same([miss?.attributes['vending.cache.result'], hit?.attributes['vending.cache.result']], ['miss', 'hit'])
  t.ok([miss, hit].every((span) => span?.parentSpanContext?.spanId === request.spanContext().spanId), 'both under the request span')
  t.ok([miss, hit].every((span) => span?.spanContext().traceId === request.spanContext().traceId), 'in the request\'s trace')
  t.same(seen.vendor, [miss?.spanContext().spanId], 'the vendor call ran in the miss\'s lookup context: its spans are the lookup\'s children')
  t.same(seen.store, [undefined, undefined], 'the store was read outside any async context: nothing there makes a span')
})

t.test('with a store whose reads are spans (Redis), the whole lookup runs in its context', async (t) => {
  const { service, log, seen, lookups } = setup(t, true)
  await service.getOrder(7, MACHINE, log)
  await service.getOrder(7, MACHINE, log)
  const [miss, hit] = lookups()
  t.same(seen.store, [miss?.spanContext().spanId, hit?.spanContext().spanId], 'each read in its own lookup\'s context')
  t.same(seen.vendor, [miss?.spanContext().spanId])
})

t.test('the cache off: the vendor call still runs in the lookup\'s context', async (t) => {
  const { service, log, seen, lookups } = setup(t, false, false)
  await service.getOrder(7, MACHINE, log)
  const [bypass] = lookups()
  t.equal(bypass?.attributes['vending.cache.result'], 'bypass')
  t.same(seen.vendor, [bypass?.spanContext().spanId])
})

t.test('a logger that carries no trace, outside any span: no lookup span, nothing traced', async (t) => {
  const { service, seen, lookups } = setup(t, false)
  await service.getOrder(7, MACHINE, { info () {}, warn () {}, error () {} })
  t.equal(lookups().length, 0)
  t.same(seen.vendor, [undefined])
})
