import { createHash } from 'node:crypto'
import t from 'tap'
import { buildTestApp } from '../helper.js'

// /demo over inject; the page itself runs in a browser in test/browser/.

t.test('/demo is served in demo mode only', async (t) => {
  const app = await buildTestApp(t, 'http://127.0.0.1:9')
  t.equal((await app.inject({ url: '/demo' })).statusCode, 404)
  t.equal((await app.inject({ url: '/demo/client/index.js' })).statusCode, 404)
})

t.test('the page, its module, the built client and openapi-fetch, under a CSP that allows the import map by its hash only', async (t) => {
  const app = await buildTestApp(t, 'http://127.0.0.1:9', { mode: 'demo' })
  const page = await app.inject({ url: '/demo' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(page.body)?.[1] ?? ''
  const hash = createHash('sha256').update(importMap).digest('base64')
  t.match(page.headers['content-security-policy'], `script-src 'self' 'sha256-${hash}';`)
  t.notMatch(page.headers['content-security-policy'], /unsafe-inline|unsafe-eval/)
  t.equal((await app.inject({ url: '/demo/' })).body, page.body)

  // every URL the import map names is served as JavaScript
  for (const url of [...Object.values<string>(JSON.parse(importMap).imports), '/demo/demo.js']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    t.match(res.headers['content-type'], /^text\/javascript/, url)
  }
  t.match((await app.inject({ url: '/demo/client/index.js' })).body, /export function createOrdersClient/, 'the built client')
  t.equal((await app.inject({ url: '/demo/nothing.js' })).statusCode, 404)
})
