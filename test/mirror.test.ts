import { existsSync, readdirSync } from 'node:fs'
import t from 'tap'

// test/ mirrors src/: every module with logic has its test at test/<same path>.test.ts, where a
// newcomer looks first. A module without one is listed below, with why. A listed module that has
// its test now, or is gone, fails too, so the lists only shrink.

const ROOT = new URL('..', import.meta.url).pathname

/** Pure types, constants, or one registration call: nothing of their own to test. */
const NO_LOGIC: Record<string, string> = {
  'orders/live/bus.ts': 'the WatchBus interface only',
  'orders/outcome-store.ts': 'the OutcomeStore interface only',
  'simulator/credentials.ts': 'the demo credentials, constants',
  'plugins/swagger-ui.ts': 'registers @fastify/swagger-ui under the docs CSP (its headers: test/plugins/security-headers.test.ts)',
  'openapi/docs-pages.ts': 'the docs prefix and CSP, constants (checked on the answers by test/plugins/security-headers.test.ts)',
  'orders/live/clock.ts': 'the Clock interface and Node\'s timers behind it',
  'shared-state/shared-state.ts': 'the SharedState types only',
  'upstream/endpoint.ts': 'the VendorEndpoint interface only',
  'plugins/swagger.ts': 'registers @fastify/swagger with the document\'s options (the document: test/openapi/generate.test.ts)'
}

/** Covered by the test named, at another path: that test must exist. */
const COVERED_ELSEWHERE: Record<string, { by: string, why: string }> = {
  'config/placeholders.ts': { by: 'config/config.test.ts', why: 'production refusing each placeholder, through loadConfig' },
  'orders/live/event-frame.ts': { by: 'routes/order-events.test.ts', why: 'the frames every stream gets, byte for byte, over real streams' },
  'routes/event-writer.ts': { by: 'routes/order-events.test.ts', why: 'a client that never reads: its stream is ended and counted' },
  'bootstrap/app.ts': { by: 'integration.test.ts', why: 'every app test builds through it (helper.ts buildTestApp); the plugin order end to end' },
  'shared-state/redis/connections.ts': { by: 'shared-state/redis/link.test.ts', why: 'each way to Redis through the link that uses it: one server there, Sentinel and Cluster in sentinel.test.ts and cluster.test.ts' },
  'shared-state/redis/rate-limit-counter.ts': { by: 'shared-state/redis/rate-limit-store.test.ts', why: 'the counting script\'s repairs (another type, not an integer, no TTL) through the store that runs it; its sends in rate-limit-share.test.ts' },
  'config/setting-problems.ts': { by: 'config/config.test.ts', why: 'the messages loadConfig gives for each bad setting' },
  'http/not-found.ts': { by: 'routes/orders.test.ts', why: '404 and 405 with Allow' },
  'openapi/document.ts': { by: 'openapi/generate.test.ts', why: 'the document generated and compared with openapi/openapi.json' },
  'openapi/security.ts': { by: 'openapi/generate.test.ts', why: 'the security scheme in the generated document' },
  'plugins/problems.ts': { by: 'routes/orders.test.ts', why: 'problem+json for every error, through the routes' },
  'plugins/tracing.ts': { by: 'observability/request-tracing.test.ts', why: 'the request span and its trace id in the log lines, through an app with tracing on' },
  'http/order-problems.ts': { by: 'openapi/generate.test.ts', why: 'a table of documented problems, compared as part of the generated document' },
  'plugins/request-metrics.ts': { by: 'observability/metrics.test.ts', why: 'http_request_duration_seconds by route pattern' },
  'simulator/app.ts': { by: 'simulator/scenarios.test.ts', why: 'every simulator test builds it' },
  'simulator/auth.ts': { by: 'simulator/order-query.test.ts', why: 'appid/appsecret checks of each vendor call' },
  'simulator/clock-orders.ts': { by: 'simulator/progress.test.ts', why: 'the clock orders\' runs on the shared fake clock' },
  'simulator/envelope.ts': { by: 'simulator/order-query.test.ts', why: 'the vendor envelope of each answer' },
  'simulator/fault-replies.ts': { by: 'simulator/faults.test.ts', why: 'garbage, HTML 502 and huge replies' },
  'simulator/main.ts': { by: 'deploy.test.ts', why: 'the simulator\'s entry point, run by compose and the manifests' },
  'simulator/payload.ts': { by: 'simulator/order-query.test.ts', why: 'signed payload decoding and its refusals' },
  'simulator/settings.ts': { by: 'deploy.test.ts', why: 'the settings the deployments give the simulator' },
  'simulator/stats.ts': { by: 'simulator/admin.test.ts', why: 'the stats and their reset' },
  'simulator/vendor-route.ts': { by: 'simulator/order-query.test.ts', why: 'the vendor\'s order query route' }
}

/** src/'s modules, as paths under src/. */
function sourceModules (): string[] {
  return readdirSync(`${ROOT}src`, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => `${entry.parentPath}/${entry.name}`.slice(`${ROOT}src/`.length))
    .sort()
}

const mirrorOf = (module: string): string => `test/${module.replace(/\.ts$/, '.test.ts')}`
const hasMirror = (module: string): boolean => existsSync(`${ROOT}${mirrorOf(module)}`)
const LISTS = { NO_LOGIC, COVERED_ELSEWHERE }

t.test('every src module has its test at the mirrored path, or an entry saying why not', async (t) => {
  const modules = sourceModules()
  t.ok(modules.length > 50, `${modules.length} modules`)
  const missing = modules.filter((module) => !hasMirror(module) && !Object.values(LISTS).some((list) => module in list))
  t.same(missing, [], `no test at ${missing.map(mirrorOf).join(', ') || 'the mirrored path'}: write it, or list the module in test/mirror.test.ts with why`)
})

t.test('the lists name only modules that exist and still have no mirrored test', async (t) => {
  const modules = new Set(sourceModules())
  for (const [name, list] of Object.entries(LISTS)) {
    for (const module of Object.keys(list)) {
      t.ok(modules.has(module), `${name}: src/${module} exists`)
      t.notOk(hasMirror(module), `${name}: src/${module} has no ${mirrorOf(module)} (once it has, remove the entry)`)
    }
  }
})

t.test('a module covered elsewhere names a test that exists', async (t) => {
  for (const [module, { by }] of Object.entries(COVERED_ELSEWHERE)) {
    t.ok(by.endsWith('.test.ts') && existsSync(`${ROOT}test/${by}`), `src/${module}: test/${by}`)
  }
})
