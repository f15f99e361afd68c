import { METHODS } from 'node:http'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import type { AppConfig } from '../src/bootstrap/app.js'
import { createMetrics } from '../src/observability/metrics.js'
import { buildTestApp, json, startUpstream, type Upstream } from './helper.js'

// Property-based fuzzing of the whole app: random methods, paths, query strings and headers.
// Reproduce a failure with the seed it prints: FUZZ_SEED=<seed> npx tap test/fuzz.test.ts
const SEED = Number(process.env.FUZZ_SEED ?? 20240426)
const RUNS = Number(process.env.FUZZ_RUNS ?? 4000)

const KEY = 'fz_' + 'k9'.repeat(20)
const ALLOWED_ORIGIN = 'https://app.example.com'
const MAX_ID = Number.MAX_SAFE_INTEGER
const VALID_ID = /^[1-9]\d*$/
const VALID_MACHINE = /^\d{8,20}$/
const PROBLEM_KEYS = ['type', 'title', 'status', 'detail', 'code', 'requestId']

const isValidId = (id: string) => VALID_ID.test(id) && Number(id) <= MAX_ID

// ---- how the vendor answers: success, its error codes, or garbage
type VendorMode = 'ok' | 80002 | 30002 | 10008 | 'garbage'
const vendorMode = fc.constantFrom<VendorMode>('ok', 'ok', 'ok', 80002, 30002, 10008, 'garbage')

async function startVendor (t: Test, mode: () => VendorMode): Promise<Upstream> {
  return startUpstream(t, (req, res) => {
    const id = Number(/\/orders\/(\d+)$/.exec(req.url ?? '')?.[1])
    const m = mode()
    if (m === 'garbage') { res.writeHead(200); res.end('<html>oops') } else if (m === 'ok') json(res, 200, { code: 0, data: { order_id: id, status: 'SUCCESS' } })
    else json(res, m === 10008 ? 401 : 200, { code: m, message: 'no' })
  })
}

// ---- inputs
const headerChar = fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constant(0x09), fc.integer({ min: 0x80, max: 0xff })).map((c) => String.fromCharCode(c))
const headerValue = fc.string({ unit: headerChar, maxLength: 120 })
const anyText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', ' ', '..', '.', '%', '%zz', '%00', '\u0000', '../..', '💥', 'ünïcode', 'NaN', 'null', '[]', '{}', '-0', '0x10', '1e3')
)
const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`))

const idArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: MAX_ID }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('0', '007', '-1', '+5', '1.5', ' 1', '9007199254740992', '99999999999999999999') },
  { weight: 2, arbitrary: digits(0, 25) },
  { weight: 2, arbitrary: anyText }
)
const machineArb = fc.oneof(
  { weight: 6, arbitrary: digits(8, 20) },
  { weight: 2, arbitrary: digits(0, 25) },
  { weight: 2, arbitrary: anyText }
)
/** Junk query pairs whose key never decodes to `machine`. */
const junkPair = fc.tuple(fc.oneof(fc.constantFrom('x', 'id', 'machine[]', 'Machine', 'machine ', '__proto__', 'constructor'), anyText.map((k) => `x${k}`)), anyText)

const authorization = fc.oneof(
  { weight: 4, arbitrary: fc.constant(`Bearer ${KEY}`) },
  { weight: 1, arbitrary: fc.constantFrom(`bearer ${KEY}`, `Bearer ${KEY} `, `Bearer  ${KEY}`) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: headerValue.map((v) => `Bearer ${v}`) },
  { weight: 1, arbitrary: headerValue }
)
const headers = fc.record({
  authorization,
  'x-request-id': fc.option(fc.oneof(headerValue, fc.uuid()), { nil: undefined }),
  'x-forwarded-for': fc.option(fc.oneof(headerValue, fc.ipV4(), fc.ipV6(), fc.array(fc.ipV4(), { maxLength: 4 }).map((ips) => ips.join(', '))), { nil: undefined }),
  'content-type': fc.option(fc.oneof(headerValue, fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x')), { nil: undefined }),
  origin: fc.option(fc.oneof(fc.constant(ALLOWED_ORIGIN), headerValue), { nil: undefined }),
  accept: fc.option(headerValue, { nil: undefined })
}, { requiredKeys: [] })

const method = fc.oneof({ weight: 6, arbitrary: fc.constant('GET') }, { weight: 1, arbitrary: fc.constant('HEAD') }, { weight: 3, arbitrary: fc.constantFrom(...METHODS) })

/** A well-formed orders URL built from decoded values, so the test knows what the app will see. */
const ordersRequest = fc.record({
  id: idArb,
  machines: fc.oneof(
    { weight: 4, arbitrary: machineArb.map((m) => [m]) },
    { weight: 1, arbitrary: fc.constant<string[]>([]) },
    { weight: 1, arbitrary: fc.array(machineArb, { minLength: 2, maxLength: 3 }) }
  ),
  junk: fc.array(junkPair, { maxLength: 3 }),
  machineFirst: fc.boolean()
}).map(({ id, machines, junk, machineFirst }) => {
  const pairs = [...machines.map((m) => ['machine', m] as const), ...junk]
  if (!machineFirst) pairs.reverse()
  const query = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
  return { url: `/orders/${encodeURIComponent(id)}${query === '' ? '' : '?' + query}`, valid: isValidId(id) && machines.length === 1 && VALID_MACHINE.test(machines[0]!) }
})

/** Anything else: raw paths and query strings, percent-encodings right or wrong, unicode, known routes. */
const otherRequest = fc.oneof(
  fc.constantFrom('/', '/docs', '/docs/', '/docs/json', '/docs/yaml', '/docs/static/swagger-ui.css', '/health/live', '/health/ready', '/metrics', '/orders', '/orders/', '/orders//', '/ORDERS/54?machine=16327129', '/orders/54/?machine=16327129', '/orders/54?machine=16327129&machine=16327129', '/orders/54?machine=1632%37129', '/orders/%35%34?machine=16327129', '/orders/54?machine[]=16327129', '/orders/54?machine=16327129#frag'),
  fc.tuple(fc.array(anyText, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.option(anyText, { nil: undefined }))
    .map(([segments, encode, query]) => '/' + segments.map((s) => encode ? encodeURIComponent(s) : s).join('/') + (query === undefined ? '' : `?${query}`)),
  fc.tuple(idArb, anyText).map(([id, rest]) => `/orders/${id}?machine=${rest}`),
  fc.webPath().map((p) => p === '' ? '/' : p),
  fc.tuple(fc.webPath(), fc.webQueryParameters()).map(([p, q]) => `${p === '' ? '/' : p}?${q}`)
).map((url) => ({ url, valid: undefined as boolean | undefined }))

interface Case { method: string, request: { url: string, valid: boolean | undefined }, headers: Record<string, string | undefined>, remoteAddress: string, vendor: VendorMode }

const cases = (remoteAddress: fc.Arbitrary<string>) => fc.record<Case>({
  method,
  request: fc.oneof({ weight: 4, arbitrary: ordersRequest }, { weight: 1, arbitrary: otherRequest }),
  headers,
  remoteAddress,
  vendor: vendorMode
})

/** Every call the vendor got carries a valid order id and machine number. */
function assertVendorSawOnlyValidInput (upstream: Upstream, from: number): void {
  for (const request of upstream.requests.slice(from)) {
    const id = /^\/api\/openapi\/v1\/orders\/(\d+)$/.exec(request.url)?.[1] ?? ''
    if (!isValidId(id)) throw new Error(`the vendor was called with order id ${JSON.stringify(request.url)}`)
    const payload = JSON.parse(Buffer.from(JSON.parse(request.body).payload, 'base64').toString('utf8'))
    if (typeof payload.machine_no !== 'string' || !VALID_MACHINE.test(payload.machine_no)) throw new Error(`the vendor was called with machine ${JSON.stringify(payload.machine_no)}`)
  }
}

interface Stats { runs: number, reachedVendor: number, byStatus: Map<number, number> }

async function fuzz (t: Test, name: string, overrides: Partial<AppConfig>, remoteAddress: fc.Arbitrary<string>, runs: number, keysOn: boolean): Promise<Stats> {
  let mode: VendorMode = 'ok'
  const upstream = await startVendor(t, () => mode)
  const app = await buildTestApp(t, upstream.url, { corsOrigins: [ALLOWED_ORIGIN], vendorTimeoutMs: 2000, ...overrides }, { metrics: createMetrics({ defaultMetrics: false }) })
  const stats: Stats = { runs: 0, reachedVendor: 0, byStatus: new Map() }

  const property = fc.asyncProperty(cases(remoteAddress), async (c) => {
    mode = c.vendor
    const before = upstream.requests.length
    const res = await app.inject({
      method: c.method as 'GET',
      url: c.request.url,
      remoteAddress: c.remoteAddress,
      headers: Object.fromEntries(Object.entries(c.headers).filter(([, v]) => v !== undefined)) as Record<string, string>,
      ...(c.method === 'GET' || c.method === 'HEAD' ? {} : { payload: 'x=1' })
    })
    stats.runs++
    stats.byStatus.set(res.statusCode, (stats.byStatus.get(res.statusCode) ?? 0) + 1)
    const called = upstream.requests.length - before

    if (res.statusCode === 500) throw new Error(`500: ${res.body}`)
    if (res.statusCode >= 400) {
      if (!/^application\/problem\+json/.test(String(res.headers['content-type']))) throw new Error(`${res.statusCode} is ${res.headers['content-type']}: ${res.body.slice(0, 200)}`)
      if (c.method !== 'HEAD') {
        const body = res.json()
        const missing = PROBLEM_KEYS.filter((key) => body[key] === undefined)
        if (missing.length > 0) throw new Error(`problem without ${missing.join(', ')}: ${res.body}`)
        if (body.status !== res.statusCode || body.code === 'INTERNAL') throw new Error(`problem says ${body.status} ${body.code} on a ${res.statusCode}`)
        if (body.requestId !== res.headers['x-request-id']) throw new Error('requestId differs from x-request-id')
      }
    }

    assertVendorSawOnlyValidInput(upstream, before)
    if (called > 1) throw new Error(`one request made ${called} vendor calls`)
    stats.reachedVendor += called
    const authorized = !keysOn || /^bearer +(\S+) *$/i.exec(c.headers.authorization ?? '')?.[1] === KEY
    const limited = res.statusCode === 429
    if (c.request.valid !== undefined) {
      const shouldCall = c.request.valid && authorized && !limited && (c.method === 'GET' || c.method === 'HEAD')
      if (shouldCall !== (called === 1)) throw new Error(`${c.method} ${c.request.url}: ${called} vendor calls, expected ${shouldCall ? 1 : 0} (status ${res.statusCode})`)
    }
  })

  t.comment(`${name}: fast-check seed ${SEED}, ${runs} runs (reproduce with FUZZ_SEED=${SEED})`)
  await fc.assert(property, { seed: SEED, numRuns: runs, endOnFailure: true })
  t.comment(`${name}: ${stats.reachedVendor} reached the vendor; statuses ${JSON.stringify(Object.fromEntries([...stats.byStatus].sort(([a], [b]) => a - b)))}`)
  return stats
}

t.test('keys on: never a 500, errors are problem+json, only valid authorized input reaches the vendor', async (t) => {
  const stats = await fuzz(t, 'keys on', { apiKeys: [KEY], rateLimitMax: 1_000_000 }, fc.constant('127.0.0.1'), Math.round(RUNS * 0.8), true)
  t.equal(stats.runs, Math.round(RUNS * 0.8))
  t.ok(stats.reachedVendor > stats.runs / 25, `valid requests did reach the vendor (${stats.reachedVendor}), so the property is not vacuous`)
  for (const status of [200, 400, 401, 404]) t.ok(stats.byStatus.has(status), `the inputs produced ${status}s`)
})

t.test('keys off, a small rate limit, a trusted proxy and many clients: same properties, 429s included', async (t) => {
  const clients = fc.constantFrom('127.0.0.1', '192.0.2.1', '192.0.2.2', '2001:db8::1', '::ffff:192.0.2.3')
  const stats = await fuzz(t, 'keys off', { rateLimitMax: 20, trustProxy: ['127.0.0.1'] }, clients, Math.round(RUNS * 0.2), false)
  t.ok(stats.byStatus.has(429), 'the limit was reached')
  t.ok(stats.reachedVendor > 0)
})
