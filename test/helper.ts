import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { request } from 'undici'
import { buildApp, type AppConfig } from '../src/bootstrap/app.js'
import { loadConfig } from '../src/config/config.js'
import { start, type Service } from '../src/bootstrap/start.js'
import { lineSink } from './fixtures/logger.js'

// The tests' shared helpers. The small ones live in test/fixtures/ and are re-exported here:
// the fake clock (fixtures/clock.ts), the recording upstream (fixtures/upstream.ts), `until`
// (fixtures/until.ts) and the quiet and capturing loggers (fixtures/logger.ts). Unit tests may
// import those directly, without loading the app.
export { fakeClock, type FakeClock } from './fixtures/clock.js'
export { captureLogs, lineSink, QUIET } from './fixtures/logger.js'
export { until, type UntilOptions } from './fixtures/until.js'
export { answerOrder, json, startUpstream, type RecordedRequest, type Upstream } from './fixtures/upstream.js'

export const TEST_CREDENTIALS = {
  appId: 'test-app-id-7d1f',
  appSecret: 'test-app-secret-9c2e5b',
  signKey: 'test-sign-key-41aa0f'
}

/**
 * Tests of mapping and contract run with the resilience layer neutral (no cache, no retries, a
 * breaker that never opens, no vendor call budget), a rate limit they will not reach and load shedding off, so each
 * request reaches the upstream exactly once and a busy test machine never turns an answer into a
 * 503; the tests of those features switch them on through `env`.
 */
export const NEUTRAL_ENV = {
  LOG_LEVEL: 'silent',
  CACHE_ENABLED: 'false',
  VENDOR_MAX_RETRIES: '0',
  BREAKER_MIN_CALLS: '10000',
  VENDOR_MAX_CALLS_PER_SECOND: '0',
  RATE_LIMIT_MAX: '1000',
  METRICS_PORT: '0',
  MAX_EVENT_LOOP_DELAY_MS: '0',
  MAX_RSS_BYTES: '0'
}

export function testConfig (baseUrl: string, overrides: Partial<AppConfig> = {}, env: Record<string, string> = {}): AppConfig {
  return {
    ...loadConfig({ ...NEUTRAL_ENV, VENDOR_TIMEOUT_MS: '1000', VENDOR_MAX_BODY_BYTES: String(64 * 1024), ...env }),
    host: '127.0.0.1',
    port: 0,
    vendor: { baseUrl, ...TEST_CREDENTIALS },
    mode: 'development',
    ...overrides
  }
}

/** buildApp against `baseUrl`, closed in teardown. */
export async function buildTestApp (t: Test, baseUrl: string, overrides: Partial<AppConfig> = {}, deps: Parameters<typeof buildApp>[1] = {}, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildApp(testConfig(baseUrl, overrides, env), deps)
  t.teardown(() => app.close())
  return app
}

/** Asserts `res` is our RFC 9457 problem+json with this status and code; returns the body. */
export function assertProblem (t: Test, res: { statusCode: number, headers: Record<string, unknown>, json: () => any }, status: number, code: string): any {
  t.equal(res.statusCode, status, `status ${status}`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, 'problem+json')
  const body = res.json()
  t.match(body, { type: String, title: String, status, detail: String, code, requestId: res.headers['x-request-id'] }, `problem ${code}`)
  return body
}

/** Where start() listens in tests: the loopback interface, ports the system picks. */
export const LOCAL_PORTS = { PORT: '0', HOST: '127.0.0.1', METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' }

/**
 * The service as server.ts starts it (config from `env`, the simulator when no vendor is set, the
 * metrics server), in this process, its JSON log lines kept in `lines`; stopped in teardown.
 */
export async function startService (t: Test, env: Record<string, string> = {}): Promise<Service & { lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = []
  const destination = lineSink((text) => { lines.push(JSON.parse(text)) })
  const service = await start({ ...LOCAL_PORTS, ...env }, { destination })
  t.teardown(() => service.stop())
  return { ...service, lines }
}

/** One Server-Sent Event as its fields; `comment` for a comment line such as `: heartbeat`. */
export interface SseFrame {
  event?: string
  id?: string
  data?: string
  retry?: string
  comment?: string
}

function parseFrame (frame: string): SseFrame {
  const fields: SseFrame = {}
  for (const line of frame.split('\n')) {
    if (line.startsWith(':')) { fields.comment = line.slice(1).trim(); continue }
    const colon = line.indexOf(':')
    const name = (colon === -1 ? line : line.slice(0, colon)) as keyof SseFrame
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
    fields[name] = name === 'data' && fields.data !== undefined ? `${fields.data}\n${value}` : value
  }
  return fields
}

export interface EventStream {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** the body, when the answer was not a stream */
  text: () => Promise<string>
  /** the next event with `data` (retry hints and comments are skipped); undefined once the stream has ended */
  next: () => Promise<SseFrame | undefined>
  /** every frame received so far, comments and hints too */
  frames: SseFrame[]
  close: () => void
}

/** GET `url` as an EventSource would, over real HTTP; the frames are parsed as they arrive. Closed in teardown. */
export async function openEventStream (t: Test, url: string, headers: Record<string, string> = {}): Promise<EventStream> {
  const controller = new AbortController()
  const res = await request(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal })
  const close = () => { controller.abort() }
  t.teardown(close)
  const frames: SseFrame[] = []
  const body = res.body
  body.setEncoding('utf8')
  let buffer = ''
  async function * events (): AsyncGenerator<SseFrame> {
    try {
      for await (const chunk of body as AsyncIterable<string>) {
        buffer += chunk
        let end = buffer.indexOf('\n\n')
        while (end !== -1) {
          const frame = parseFrame(buffer.slice(0, end))
          buffer = buffer.slice(end + 2)
          frames.push(frame)
          if (frame.data !== undefined) yield frame
          end = buffer.indexOf('\n\n')
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error
    }
  }
  const iterator = events()
  return {
    status: res.statusCode,
    headers: res.headers,
    text: () => body.text(),
    next: async () => (await iterator.next()).value ?? undefined,
    frames,
    close
  }
}
