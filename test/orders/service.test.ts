import t from 'tap'
import { createOrdersService, type OrdersVendor } from '../../src/orders/service.js'
import { runInThisProcess } from '../../src/shared-state/memory/coalescing.js'
import { createMemoryOutcomeStore } from '../../src/shared-state/memory/outcome-store.js'
import type { VendorLog } from '../../src/upstream/client.js'
import { orderQuery, type OrderQueryParams } from '../../src/upstream/endpoints/order-query.js'

const NO_CACHE = { enabled: false, maxEntries: 1, maxBytes: 1024 * 1024, freshMs: 0, terminalMs: 0, notFoundMs: 0, staleMs: 0 }

/** A service whose vendor answers `status(id)` for order `id`, on a hand-driven clock, logging into `lines`. */
function setup (status: (id: number) => string) {
  let now = 1_000_000
  const lines: Array<{ obj: Record<string, unknown>, msg: string }> = []
  const record = (obj: object, msg: string): void => { lines.push({ obj: obj as Record<string, unknown>, msg }) }
  const log: VendorLog = { info: record, warn: record, error: record }
  // the order query's own parser reads the answer, so the service gets what the real stack would give it
  const vendor: OrdersVendor = {
    call: async (endpoint, params) => {
      if (endpoint !== orderQuery as unknown) throw new Error('the service asks only the order query')
      const id = (params as OrderQueryParams).orderId
      return endpoint.parse({ order_id: id, status: status(id) }, params, 200)
    }
  }
  const service = createOrdersService({ vendor, cache: NO_CACHE, store: createMemoryOutcomeStore({ ...NO_CACHE, now: () => now }), coalescing: runInThisProcess, now: () => now })
  return { get: (id: number) => service.getOrder(id, '16327129', log), lines, tick: (ms: number) => { now += ms } }
}

const unknownWarnings = (lines: ReturnType<typeof setup>['lines']) => lines.filter((line) => /does not know/.test(line.msg))

t.test('an unknown enum value is logged once, cut to a readable length', async (t) => {
  const huge = 'NEW_STATUS_' + 'X'.repeat(800_000)
  const { get, lines } = setup(() => huge)
  t.match((await get(1)).outcome, { kind: 'order', order: { status: 'UNKNOWN' } })
  await get(1)
  await get(2)
  const warnings = unknownWarnings(lines)
  t.equal(warnings.length, 1, 'news once, not on every poll')
  const value = String(warnings[0]?.obj.value)
  t.ok(value.startsWith('NEW_STATUS_XXX'), 'the value is recognisable')
  t.ok(value.length < 250, `the logged value is ${value.length} characters`)
  t.match(value, `(${huge.length} chars)`, 'and says how long it was')
  t.ok(JSON.stringify(lines).length < 2000, 'no line carries the vendor\'s megabyte')
})

t.test('unknown-value warnings are bounded per minute; the rest are counted in one line', async (t) => {
  const { get, lines, tick } = setup((id) => `NEW_${id}`)
  for (let id = 1; id <= 1000; id++) await get(id)
  t.equal(unknownWarnings(lines).length, 10, 'a flood of distinct values writes ten lines a minute')
  t.equal(lines.length, 10)

  tick(60_000)
  await get(11)
  const [summary, next] = lines.slice(10)
  t.match(summary, { obj: { suppressed: 990 }, msg: /990 more/ }, 'the next minute starts with the count of what was not logged')
  t.match(next, { obj: { field: 'status', value: 'NEW_11', orderId: 11 } }, 'a value not logged in the flood is still news later')
  await get(1)
  t.equal(lines.length, 12, 'a value already logged stays quiet')
})

t.test('a lookup\'s priority and admission hook reach the vendor call, with the cache on or off', async (t) => {
  for (const enabled of [false, true]) {
    const tickets: unknown[] = []
    const vendor: OrdersVendor = {
      call: async (endpoint, params, _log, ticket) => {
        tickets.push(ticket)
        return endpoint.parse({ order_id: (params as OrderQueryParams).orderId }, params, 200)
      }
    }
    const cache = { ...NO_CACHE, enabled, freshMs: 1000 }
    const service = createOrdersService({ vendor, cache, store: createMemoryOutcomeStore({ ...cache, now: () => 0 }), coalescing: runInThisProcess, now: () => 0 })
    const onAdmitted = () => {}
    await service.getOrder(7, '16327129', { info () {}, warn () {}, error () {} }, { priority: 'background', onAdmitted })
    t.same(tickets, [{ priority: 'background', onAdmitted }], enabled ? 'cache on' : 'cache off')
  }
})
