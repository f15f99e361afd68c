import { readFile } from 'node:fs/promises'
import t from 'tap'
import { generateOpenApiDocument } from '../../src/openapi/generate.js'
import { buildTestApp } from '../helper.js'

const committed = await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')
const packageJson = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'))

t.test('openapi/openapi.json is what the code generates (run `npm run openapi` after changing routes)', async (t) => {
  t.equal(await generateOpenApiDocument(), committed)
})

t.test('the document says what app developers need', async (t) => {
  const doc = JSON.parse(committed)
  t.equal(doc.openapi, '3.1.0')
  t.equal(doc.info.version, packageJson.version, 'one version: package.json\'s')
  t.same(doc.servers.map((server: { url: string }) => server.url), ['/'], 'the API is on the service that serves the document')
  t.match(doc.info.description, /problem\+json/)
  t.same(Object.keys(doc.paths).sort(), ['/callbacks/delivery/{token}', '/orders/{id}', '/orders/{id}/events'], 'docs and health routes are not part of the API document')
  const operation = doc.paths['/orders/{id}'].get
  t.same(operation.tags, ['orders'])
  t.same(Object.keys(operation.responses).sort(), ['200', '304', '400', '401', '404', '405', '409', '410', '429', '500', '502', '503', '504'])
  for (const [status, response] of Object.entries<any>(operation.responses)) {
    t.ok(response.headers['x-request-id'], `${status} documents x-request-id`)
    if (status === '304') {
      t.notOk(response.content, '304 has no body')
      continue
    }
    const type = status === '200' ? 'application/json' : 'application/problem+json'
    t.ok(response.content[type], `${status} is ${type}`)
  }
  t.ok(operation.responses['503'].headers['retry-after'])
  for (const header of ['etag', 'cache-control', 'cache-status']) t.ok(operation.responses['200'].headers[header], `200 documents ${header}`)
  t.match(operation.responses['200'].headers['cache-status'].description, /stale-if-error/, 'stale answers are documented')
  t.ok(operation.parameters.find((p: { name: string }) => p.name === 'if-none-match'))
  t.match(doc.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', description: /only when the deployment sets API_KEYS/ },
    'the bearer scheme is declared whatever the config, so Swagger UI shows Authorize')
  t.same(operation.security, [{ bearerAuth: [] }])
  t.match(operation.responses['401'], { description: /Only when the deployment sets API_KEYS/, headers: { 'www-authenticate': Object } })
  t.ok(operation.responses['429'].headers['retry-after'])
  for (const status of ['200', '400', '429', '502']) {
    t.match(operation.responses[status].headers, { 'x-ratelimit-limit': Object, 'x-ratelimit-remaining': Object, 'x-ratelimit-reset': Object }, `${status} documents the rate-limit headers`)
  }
  t.equal(doc.components.schemas.Order.example.id, 54, 'the Order example is the documented order 54')
  t.same(doc.components.schemas.Problem.required.sort(), ['code', 'detail', 'requestId', 'status', 'title', 'type'])
})

t.test('the served document equals the committed one, and Swagger UI is served', async (t) => {
  const token = 'a-deployments-own-callback-token-5f3e9'
  const key = 'a-deployments-own-api-key-0123456789abcdef'
  const app = await buildTestApp(t, 'http://127.0.0.1:9', { callbackToken: token, apiKeys: [key] })
  const json = await app.inject({ url: '/docs/json', headers: { authorization: `Bearer ${key}` } })
  t.equal(json.statusCode, 200)
  t.same(json.json(), JSON.parse(committed))
  t.notMatch(json.body, token, 'the callback token is never in the document')
  t.notMatch(json.body, key, 'nor an API key')
  const withoutCallbacks = await buildTestApp(t, 'http://127.0.0.1:9')
  const served = (await withoutCallbacks.inject({ url: '/docs/json' })).json()
  t.same(Object.keys(served.paths).sort(), ['/orders/{id}', '/orders/{id}/events'], 'without CALLBACK_TOKEN the route is neither there nor documented')
  const ui = await app.inject({ url: '/docs/' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /text\/html/)
  t.match(ui.body, /swagger-ui/i)
  const initializer = await app.inject({ url: '/docs/static/swagger-initializer.js' })
  t.equal(initializer.statusCode, 200)
})

t.test('without API_KEYS the served document asks for no key: no bearer scheme, no security requirement, no 401', async (t) => {
  const app = await buildTestApp(t, 'http://127.0.0.1:9')
  const served = (await app.inject({ url: '/docs/json' })).json()
  const keyed = JSON.parse(committed)
  t.notOk(served.components.securitySchemes, 'no scheme to authorize with')
  for (const path of ['/orders/{id}', '/orders/{id}/events']) {
    const operation = served.paths[path].get
    t.same(operation.security, [], `${path} takes no key`)
    t.notOk(operation.responses['401'], `${path} never answers 401`)
    t.same(Object.keys(operation.responses).sort(), Object.keys(keyed.paths[path].get.responses).filter((status) => status !== '401').sort(), `${path}: every other answer is documented`)
    t.ok(operation.responses['429'].headers['x-ratelimit-limit'], `${path}: still rate limited, per client address`)
  }
  t.notMatch(JSON.stringify(served), /bearerAuth|www-authenticate/)
  const answered = await app.inject({ url: '/orders/54?machine=16327129' })
  t.not(answered.statusCode, 401, 'as the service does')
})

t.test('live tracking is documented: the event stream, long polling, the callback', async (t) => {
  const doc = JSON.parse(committed)
  const events = doc.paths['/orders/{id}/events'].get
  const stream = events.responses['200'].content['text/event-stream']
  t.ok(stream, 'the events route answers text/event-stream')
  t.equal(stream.schema.type, 'string', 'one text body, as a validator reads the stream (test/openapi/prism.test.ts)')
  for (const named of ['`event: order`', '`event: problem`', '#/components/schemas/Order', '#/components/schemas/Problem', 'Last-Event-ID', '204']) {
    t.match(stream.schema.description, named, `the description names ${named}`)
  }
  const example = stream.schema.example.split('\n\n')
  t.match(example[0], /^retry: \d+$/, 'the example begins with the retry hint')
  t.same(JSON.parse(/^data: (.*)$/m.exec(example[1])![1]!), doc.components.schemas.Order.example, 'then the documented order as its first event')
  t.same(events.security, [{ bearerAuth: [] }])
  const order = doc.paths['/orders/{id}'].get
  t.ok(order.parameters.find((p: { name: string }) => p.name === 'prefer'), 'Prefer on the order route')
  for (const status of ['200', '304']) t.ok(order.responses[status].headers['preference-applied'], `${status} documents Preference-Applied`)
  t.notOk(events.responses['200'].headers.etag, 'no cache headers on the stream')
  const callback = doc.paths['/callbacks/delivery/{token}'].post
  t.same(callback.security, [], 'the callback takes no API key')
  t.same(callback.parameters.map((p: { name: string, in: string }) => `${p.in}.${p.name}`), ['path.token'])
  t.notOk(callback.parameters[0].example ?? callback.parameters[0].schema.examples, 'no example token')
  t.same(Object.keys(callback.requestBody.content), ['application/json', 'application/x-www-form-urlencoded'])
})
