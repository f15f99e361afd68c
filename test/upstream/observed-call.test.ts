import t from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import type { VendorClient } from '../../src/upstream/client.js'
import type { VendorEndpoint } from '../../src/upstream/endpoint.js'
import { orderQuery } from '../../src/upstream/endpoints/order-query.js'
import { observeVendorCalls, type VendorCallEvent } from '../../src/upstream/observed-call.js'
import { recordingTracer } from '../fixtures/spans.js'

const ORDER_54 = { orderId: 54, machineNo: '16327129' }

/** A client that answers every call with `answer()` and tells `status` as the HTTP status of the answer. */
function fakeClient (answer: () => Promise<any>, status?: number): VendorClient & { closed: boolean } {
  const client = {
    closed: false,
    call: async (_endpoint: unknown, _params: unknown, options: { onAnswer?: (status: number) => void } = {}) => {
      if (status !== undefined) options.onAnswer?.(status)
      return await answer()
    },
    close: async () => { client.closed = true }
  }
  return client
}

function recordingLog () {
  const lines: Array<[string, any, string]> = []
  const log = {
    info: (obj: object, msg: string) => lines.push(['info', obj, msg]),
    warn: (obj: object, msg: string) => lines.push(['warn', obj, msg]),
    error: (obj: object, msg: string) => lines.push(['error', obj, msg])
  }
  return { lines, log }
}

t.test('every call is reported once: started, then its outcome, vendor code and duration', async (t) => {
  const events: Array<VendorCallEvent | 'start'> = []
  let answer: () => Promise<any> = async () => ({ order_id: 54 })
  const client = fakeClient(() => answer())
  const observed = observeVendorCalls(client, { onStart: () => events.push('start'), onCall: (event) => events.push(event) })

  t.same(await observed.call(orderQuery, ORDER_54), { order_id: 54 })
  const notFound = new AppError('ORDER_NOT_FOUND', { vendorCode: 80002 })
  answer = async () => { throw notFound }
  await t.rejects(observed.call(orderQuery, ORDER_54), notFound, 'the error passes through unchanged')
  answer = async () => { throw new AppError('UPSTREAM_TIMEOUT') }
  await t.rejects(observed.call(orderQuery, ORDER_54))
  const bug = new TypeError('bug')
  answer = async () => { throw bug }
  await t.rejects(observed.call(orderQuery, ORDER_54), bug)

  t.match(events, [
    'start', { outcome: 'ok', vendorCode: 0, durationMs: Number },
    'start', { outcome: 'ORDER_NOT_FOUND', vendorCode: 80002 },
    'start', { outcome: 'UPSTREAM_TIMEOUT', vendorCode: undefined },
    'start', { outcome: 'INTERNAL', vendorCode: undefined }
  ])
  await observed.close()
  t.ok(client.closed, 'close reaches the client')
})

t.test('every call is one log line, at its error kind\'s level, timed by the same measurement as its event', async (t) => {
  const { lines, log } = recordingLog()
  const events: VendorCallEvent[] = []
  let answer: () => Promise<any> = async () => ({ order_id: 54 })
  const observed = observeVendorCalls(fakeClient(() => answer()), { onCall: (event) => events.push(event) })

  await observed.call(orderQuery, ORDER_54, { log })
  for (const [code, level] of [['ORDER_NOT_FOUND', 'info'], ['UPSTREAM_TIMEOUT', 'warn'], ['UPSTREAM_REJECTED', 'error']] as const) {
    answer = async () => { throw new AppError(code, { upstreamStatus: 200 }) }
    await t.rejects(observed.call(orderQuery, ORDER_54, { log }))
    t.equal(lines.at(-1)?.[0], level, code)
  }
  answer = async () => { throw new TypeError('bug') }
  await t.rejects(observed.call(orderQuery, ORDER_54, { log }))

  t.same(lines.map(([level]) => level), ['info', 'info', 'warn', 'error', 'error'], 'a bug of ours is an error')
  t.same(lines.map(([, , msg]) => msg), Array(5).fill('vendor call'))
  t.same(Object.keys(lines[0]![1].vendor), ['orderId', 'durationMs', 'httpStatus', 'vendorCode', 'outcome'], 'the fields of the line, in their order')
  t.match(lines[0]![1], { vendor: { orderId: 54, outcome: 'ok', vendorCode: 0 } })
  t.match(lines[2]![1], { vendor: { orderId: 54, outcome: 'UPSTREAM_TIMEOUT', httpStatus: 200 } })
  lines.forEach(([, line], i) => t.equal(line.vendor.durationMs, Math.round(events[i]!.durationMs * 10) / 10, 'one measurement'))
})

t.test('a line whose level the log drops is not built; the call is still reported to the hooks', async (t) => {
  const { lines, log } = recordingLog()
  const asked: string[] = []
  const warnAndUp = { ...log, isLevelEnabled: (level: string) => { asked.push(level); return level !== 'info' } }
  const events: VendorCallEvent[] = []
  const endpoint: VendorEndpoint<typeof ORDER_54, unknown> = { ...orderQuery, logFields: (params) => { t.fail('log fields built for a dropped line'); return orderQuery.logFields(params) } }
  const observed = observeVendorCalls(fakeClient(async () => ({ order_id: 54 })), { onCall: (event) => events.push(event) })
  await observed.call(endpoint, ORDER_54, { log: warnAndUp })
  t.same(asked, ['info'])
  t.same(lines, [], 'nothing logged at info')
  t.match(events, [{ outcome: 'ok' }], 'the metrics still see the call')

  const failing = observeVendorCalls(fakeClient(async () => { throw new AppError('UPSTREAM_TIMEOUT') }), {})
  await t.rejects(failing.call(orderQuery, ORDER_54, { log: warnAndUp }))
  t.match(lines, [['warn', { vendor: { orderId: 54, outcome: 'UPSTREAM_TIMEOUT' } }, 'vendor call']], 'a warn line still is')
})

t.test('no hooks: the client works as before', async (t) => {
  const observed = observeVendorCalls(fakeClient(async () => ({ order_id: 1 })), {})
  t.same(await observed.call(orderQuery, { orderId: 1, machineNo: '16327129' }), { order_id: 1 })
})

t.test('traced: a client span per call, named by its endpoint, with the answer\'s status and the outcome', async (t) => {
  const { tracer, exporter } = recordingTracer(t)
  const tracing = { tracer, server: { address: 'vendor.example', port: 8443 } }
  // calls are traced inside a sampled request only: under a recording span
  const inRequest = async <T>(call: () => Promise<T>): Promise<T> => await tracer.startActiveSpan('request', async (span) => {
    try { return await call() } finally { span.end() }
  })
  const listing: VendorEndpoint<{ machineNo: string }, unknown> = {
    path: ({ machineNo }) => `/api/openapi/v1/machines/${machineNo}/orders`,
    payload: ({ machineNo }) => ({ machine_no: machineNo }),
    idempotent: true,
    parse: (data) => data,
    logFields: ({ machineNo }) => ({ machineNo }),
    spanAttributes: ({ machineNo }) => ({ 'vending.machine.no': machineNo })
  }
  const { lines, log } = recordingLog()

  await observeVendorCalls(fakeClient(async () => ({ order_id: 54 }), 200), {}, tracing).call(orderQuery, ORDER_54, { attempt: 1 })
  t.same(exporter.getFinishedSpans(), [], 'outside a sampled request: no span, and no trace of its own')

  await inRequest(() => observeVendorCalls(fakeClient(async () => ({ order_id: 54 }), 200), {}, tracing).call(orderQuery, ORDER_54, { attempt: 1 }))
  const failing = observeVendorCalls(fakeClient(async () => { throw new AppError('UPSTREAM_BAD_RESPONSE', { upstreamStatus: 503 }) }, 503), {}, tracing)
  await t.rejects(inRequest(() => failing.call(listing, { machineNo: '16327129' }, { log })))

  const [ok, failed] = exporter.getFinishedSpans().filter((span) => span.name === 'POST')
  t.match(ok, { name: 'POST', kind: 2, status: { code: 0 } }, 'CLIENT')
  t.same(ok!.attributes, {
    'http.request.method': 'POST',
    'server.address': 'vendor.example',
    'server.port': 8443,
    'http.request.resend_count': 1,
    'vending.order.id': 54,
    'http.response.status_code': 200,
    'vending.vendor.code': 0
  })
  t.match(failed, { name: 'POST', status: { code: 2, message: 'UPSTREAM_BAD_RESPONSE' } })
  t.same(failed!.attributes, {
    'http.request.method': 'POST',
    'server.address': 'vendor.example',
    'server.port': 8443,
    'http.request.resend_count': 0,
    'vending.machine.no': '16327129',
    'http.response.status_code': 503,
    'error.type': 'UPSTREAM_BAD_RESPONSE'
  }, 'another endpoint: its own attributes, no order id')
  t.match(lines, [['warn', { vendor: { machineNo: '16327129', outcome: 'UPSTREAM_BAD_RESPONSE', httpStatus: 503 } }, 'vendor call']])
  t.notOk('orderId' in lines[0]![1].vendor, 'and its own log fields')
})
