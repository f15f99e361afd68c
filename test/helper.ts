import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { request } from 'undici'
import { buildApp, type AppConfig } from '../src/bootstrap/app.js'
import { loadConfig } from '../src/config/config.js'
import { createLogger } from '../src/observability/logger.js'
import { start, type Service } from '../src/bootstrap/start.js'

export const TEST_CREDENTIALS = {
  appId: 'test-app-id-7d1f',
  appSecret: 'test-app-secret-9c2e5b',
  signKey: 'test-sign-key-41aa0f'
}

/**
 * Tests of mapping and contract run with the resilience layer neutral (no cache, no retries, a
 * breaker that never opens), a rate limit they will not reach and load shedding off, so each
 * request reaches the upstream exactly once and a busy test machine never turns an answer into a
 * 503; the tests of those features switch them on through `env`.
 */
export const NEUTRAL_ENV = {
  LOG_LEVEL: 'silent',
  CACHE_ENABLED: 'false',
  VENDOR_MAX_RETRIES: '0',
  BREAKER_MIN_CALLS: '10000',
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

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

export interface Upstream {
  url: string
  requests: RecordedRequest[]
}

/**
 * A throwaway HTTP upstream on port 0 that records every request and answers with `handler`:
 * real sockets, so resets and slow answers are real. Closed in teardown.
 */
export async function startUpstream (t: Test, handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<Upstream> {
  const requests: RecordedRequest[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => { body += chunk })
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      handler(req, res, body)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.closeAllConnections()
    server.close()
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

/** Answers with a JSON body and status. */
export function json (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** The vendor's success envelope for the order the request asked for: a success must name that order. */
export function answerOrder (req: IncomingMessage, res: ServerResponse, data: Record<string, unknown> = {}): void {
  json(res, 200, { code: 0, data: { order_id: Number(/orders\/(\d+)/.exec(req.url ?? '')?.[1]), ...data } })
}

/** Everything a pino logger writes, kept in memory so tests can search the logs. */
export function captureLogs (): { logger: ReturnType<typeof createLogger>, lines: () => string } {
  const chunks: string[] = []
  const stream = new Writable({ write (chunk, _enc, done) { chunks.push(String(chunk)); done() } })
  return { logger: createLogger('trace', stream), lines: () => chunks.join('') }
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
const LOCAL_PORTS = { PORT: '0', HOST: '127.0.0.1', METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' }

/**
 * The service as server.ts starts it (config from `env`, the simulator when no vendor is set, the
 * metrics server), in this process, its JSON log lines kept in `lines`; stopped in teardown.
 */
export async function startService (t: Test, env: Record<string, string> = {}): Promise<Service & { lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = []
  const destination = new Writable({ write (chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done() } })
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

/** Resolves once `condition` holds, checking every few milliseconds: waits on an outcome, not for a time. */
export async function until (condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!await condition()) await sleep(5)
}
