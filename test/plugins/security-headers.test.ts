import t from 'tap'
import { DOCS_CSP } from '../../src/openapi/docs-pages.js'
import { buildTestApp, json, startUpstream } from '../helper.js'

const API_CSP = "default-src 'none';frame-ancestors 'none'"
/** Helmet's headers for rendered pages, which a JSON answer is not */
const DOCUMENT_ONLY = ['cross-origin-opener-policy', 'origin-agent-cluster', 'referrer-policy', 'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies', 'x-xss-protection']

t.test('the OWASP API set of helmet headers and a deny-everything CSP on API answers, errors included', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => json(res, 200, { code: 0, data: { order_id: 54, status: 'SUCCESS' } }))
  const app = await buildTestApp(t, upstream.url, { apiKeys: ['ka_' + 'a1'.repeat(20)] })
  const key = { authorization: `Bearer ka_${'a1'.repeat(20)}` }
  for (const [url, headers, status] of [
    ['/orders/54?machine=16327129', key, 200],
    ['/orders/007?machine=1', key, 400],
    ['/orders/54?machine=16327129', {}, 401],
    ['/nope', {}, 404],
    ['/docsearch', {}, 404],
    ['/health/live', {}, 200]
  ] as const) {
    const res = await app.inject({ url, headers })
    t.equal(res.statusCode, status, url)
    t.equal(res.headers['content-security-policy'], API_CSP, `${status} ${url}: CSP`)
    t.equal(res.headers['x-content-type-options'], 'nosniff')
    t.match(res.headers['strict-transport-security'], /max-age=\d+/)
    t.equal(res.headers['x-frame-options'], 'DENY')
    t.equal(res.headers['cross-origin-resource-policy'], 'same-origin')
    t.notOk(res.headers['x-powered-by'])
    t.same(DOCUMENT_ONLY.filter((name) => name in res.headers), [], `${status} ${url}: no document-only header`)
  }
})

t.test('Swagger UI and its assets load under the docs CSP', async (t) => {
  const app = await buildTestApp(t, 'http://127.0.0.1:9')
  const page = await app.inject({ url: '/docs/' })
  t.equal(page.statusCode, 200)
  t.equal(page.headers['referrer-policy'], 'no-referrer', 'a page gets helmet\'s document headers')
  t.equal(page.headers['cross-origin-opener-policy'], 'same-origin')
  t.equal(page.headers['x-frame-options'], 'DENY')
  t.match(page.headers['content-type'], /text\/html/)
  t.equal(page.headers['content-security-policy'], DOCS_CSP)
  t.match(DOCS_CSP, /script-src 'self'(;|$)/, 'scripts only from this origin')
  t.match(DOCS_CSP, /style-src 'self' 'unsafe-inline'/, 'Swagger UI sets inline styles')
  t.match(DOCS_CSP, /img-src 'self' data:/, 'and uses data: images')
  t.notMatch(page.body, /<script(?![^>]*\ssrc=)[^>]*>/, 'no inline script, which script-src \'self\' would block')

  // every script and stylesheet the page names, resolved as a browser would
  const assets = [...page.body.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="([^"]+)"/g)].map((m) => new URL(m[1]!, 'http://x/docs/').pathname)
  t.ok(assets.includes('/docs/static/swagger-ui-bundle.js') && assets.includes('/docs/static/swagger-ui.css'), 'the page uses the bundle and its CSS')
  for (const path of assets) {
    const res = await app.inject({ url: path })
    t.equal(res.statusCode, 200, path)
    t.ok(res.body.length > 0, `${path} is not empty`)
    t.equal(res.headers['content-security-policy'], DOCS_CSP, `${path}: docs CSP`)
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${path}: nosniff, so its content type must be right`)
  }
  t.match((await app.inject({ url: '/docs/static/swagger-ui-bundle.js' })).headers['content-type'], /javascript/)
  t.match((await app.inject({ url: '/docs/static/swagger-ui.css' })).headers['content-type'], /text\/css/)
  const document = await app.inject({ url: '/docs/json' })
  t.equal(document.statusCode, 200, '"Try it out" reads the document from the same origin')
})
