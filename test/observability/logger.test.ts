import t from 'tap'
import { pino } from 'pino'
import { createLogger, REDACT_PATHS } from '../../src/observability/logger.js'
import { buildTestApp, captureLogs, json, lineSink, startUpstream } from '../helper.js'

/** A logger with createLogger's redaction, without timestamps. */
function recorded (level: string) {
  const lines: string[] = []
  const stream = lineSink((text) => { lines.push(text) })
  const logger = pino({ level, timestamp: false, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, stream)
  return { logger, lines }
}

t.test('credentials are redacted through a request logger and its children', async (t) => {
  const { logger, lines } = recorded('info')
  const log = logger.child({ requestId: 'r-2' })
  log.info({ config: { vendor: { appSecret: 'leak-me-not' } } }, 'nested')
  log.child({ part: 'vendor' }).info({ headers: { AppSecret: 'leak-me-not' } }, 'headers')
  t.equal(lines.length, 2)
  t.notMatch(lines.join(''), 'leak-me-not')
  t.match(lines[1], /"requestId":"r-2","part":"vendor"/, 'a grandchild keeps the request id')
})

/** Our credentials, each under a name REDACT_PATHS must cover. */
const VENDOR_SETTINGS = { baseUrl: 'https://vendor.example.test', appId: 'leak-app-id', appSecret: 'leak-app-secret', signKey: 'leak-sign-key' }
const API_KEYS = ['leak-api-key-0123456789abcdef0123456789']

t.test('every shape that carries a credential is redacted under the names we log it by', async (t) => {
  // REDACT_PATHS alone: createLogger's req serializer would drop the request's headers before redaction
  const { logger, lines } = recorded('info')
  const shapes: Array<[string, object]> = [
    ['request headers', { req: { headers: { authorization: 'Bearer leak-bearer', cookie: 'leak-cookie', appid: 'leak-app-id', appsecret: 'leak-app-secret' } } }],
    ['callers\' headers', { headers: { authorization: 'Bearer leak-bearer', cookie: 'leak-cookie' } }],
    ['the vendor client\'s headers', { headers: { Appid: 'leak-app-id', AppSecret: 'leak-app-secret' } }],
    ['the vendor client\'s headers, spread', { Appid: 'leak-app-id', AppSecret: 'leak-app-secret' }],
    ['the vendor settings, spread', { ...VENDOR_SETTINGS }],
    ['the vendor settings as vendor', { vendor: VENDOR_SETTINGS }],
    ['the vendor client\'s options', { options: { ...VENDOR_SETTINGS, timeoutMs: 5000 } }],
    ['the config', { config: { port: 3000, vendor: VENDOR_SETTINGS, apiKeys: API_KEYS } }],
    ['the API keys', { apiKeys: API_KEYS }]
  ]
  for (const [name, shape] of shapes) {
    logger.info(shape, name)
    const line = lines.at(-1) ?? ''
    t.notMatch(line, 'leak-', name)
    t.match(line, '[redacted]', `${name}: still logged, with the value replaced`)
  }
  t.match(lines.find((line) => line.includes('"msg":"the config"')), '"baseUrl":"https://vendor.example.test"', 'what is not a credential stays')
})

t.test('through the app, request lines carry the request id', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: { order_id: 54, status: 'SUCCESS' } }))
  const { logger, lines } = captureLogs()
  const app = await buildTestApp(t, upstream.url, {}, { logger })
  const res = await app.inject({ url: '/orders/54?machine=16327129', headers: { 'x-request-id': 'trace-me-42' } })
  t.equal(res.statusCode, 200)
  const mine = lines().split('\n').filter((line) => line.includes('"requestId":"trace-me-42"'))
  t.ok(mine.some((line) => line.includes('"msg":"incoming request"')), 'Fastify\'s request line')
  t.ok(mine.some((line) => line.includes('"msg":"vendor call"')), 'the vendor client\'s line')
  t.ok(mine.some((line) => line.includes('"msg":"request completed"')))
})

t.test('query parameters other than machine are never logged as sent', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: { order_id: 54, status: 'SUCCESS' } }))
  const { logger, lines } = captureLogs()
  const app = await buildTestApp(t, upstream.url, {}, { logger })
  const urls = [
    '/orders/54?machine=16327129&access_token=s3cr3t-one',
    '/orders/54?access_token=s3cr3t-two&machine=16327129&password=s3cr3t-three&s3cr3t-four',
    '/nope?token=s3cr3t-five',
    '/orders/%zz?api_key=s3cr3t-six'
  ]
  for (const url of urls) await app.inject({ url, headers: { 'x-request-id': 'query-log' } })
  const text = lines()
  t.notMatch(text, 's3cr3t')
  const logged = text.split('\n').filter((line) => line.includes('"msg":"incoming request"')).map((line) => JSON.parse(line).req.url)
  t.same(logged, [
    '/orders/54?machine=16327129&access_token=[redacted]',
    '/orders/54?access_token=[redacted]&machine=16327129&password=[redacted]&[redacted]',
    '/nope?token=[redacted]',
    '/orders/%zz?api_key=[redacted]'
  ], 'the path, machine and the other parameters\' names stay')
})

t.test('createLogger still logs at its level', async (t) => {
  const chunks: string[] = []
  const logger = createLogger('error', lineSink((text) => { chunks.push(text) }))
  logger.child({ requestId: 'r-5' }).warn('below')
  logger.child({ requestId: 'r-5' }).error('at')
  t.equal(chunks.length, 1)
  t.match(chunks[0], /"requestId":"r-5"/)
})
