import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { PHASES_MS, startClockedService } from '../clocked-service.js'
import { launchChromium, missingChromium, SCREENSHOTS, watchedPage } from './chromium.js'

// Swagger UI, the demo page and CORS in a real browser: Debian's chromium driven by playwright-core.

const missing = missingChromium()
if (missing !== undefined) {
  if (process.env.REQUIRE_BROWSER === '1') t.fail(`${missing} (REQUIRE_BROWSER=1)`)
  else t.plan(0, missing)
} else {
  // chromium's start and the demo's four polls take seconds on a busy machine
  t.setTimeout(180_000)
  const context = await launchChromium(t)

  t.test('Swagger UI at /docs renders GET /orders/{id}, and "Try it out" on order 54 answers 200, with no console error or CSP violation', async (t) => {
    const { url } = await startClockedService(t)
    const { page, errors, cspViolations } = await watchedPage(t, context)
    await page.goto(`${url}/docs`)
    const operation = page.locator('#operations-orders-getOrder')
    await operation.locator('.opblock-summary').click()
    await operation.locator('button.try-out__btn').click()
    await operation.locator('tr[data-param-name="id"] input').fill('54')
    await operation.locator('tr[data-param-name="machine"] input').fill('16327129')
    const answer = page.waitForResponse((response) => response.url().includes('/orders/54?'))
    await operation.locator('button.execute').click()
    t.equal((await answer).status(), 200)
    await operation.locator('.live-responses-table .response-col_status', { hasText: '200' }).waitFor()
    await operation.locator('.live-responses-table').scrollIntoViewIfNeeded()
    await page.screenshot({ path: join(SCREENSHOTS, 'docs-try-it-out.png') })
    t.same(errors, [], 'no console error')
    t.same(cspViolations, [], 'no CSP violation')
  })

  t.test('the demo page follows clock order 2001 from unpaid to its final state, and shows a problem with its title and code', async (t) => {
    const { url, setElapsed } = await startClockedService(t, { mode: 'demo' })
    const { page, errors, cspViolations } = await watchedPage(t, context)
    await page.goto(`${url}/demo`)
    await page.getByRole('button', { name: 'Watch' }).click()
    const line = page.locator('#line-20011 li')
    // the clock moves on only once the page shows the state before: it must see each one
    for (const [phase, state] of ['unpaid', 'WAITING_PICKED_UP', 'IS_DELIVERING', 'IS_SUCCESS'].entries()) {
      setElapsed(PHASES_MS[phase] ?? 0)
      await line.last().filter({ hasText: state }).waitFor()
    }
    await page.locator('#order-final').waitFor({ state: 'visible' })
    t.same(await line.allTextContents(), ['unpaid', 'WAITING_PICKED_UP', 'IS_DELIVERING', 'IS_SUCCESS'], 'the line\'s timeline')
    t.same(await page.locator('#payment li').allTextContents(), ['NOTPAY', 'SUCCESS'], 'the payment\'s timeline')
    t.match(await page.locator('#order').getAttribute('class'), /terminal/, 'the terminal state is marked')
    await page.screenshot({ path: join(SCREENSHOTS, 'demo-final.png'), fullPage: true })
    t.same(errors, [], 'no console error')
    errors.length = 0

    await page.locator('input[name="id"]').fill('99999')
    await page.getByRole('button', { name: 'Watch' }).click()
    await page.locator('#problem').waitFor({ state: 'visible' })
    t.equal(await page.locator('#problem-code').textContent(), 'ORDER_NOT_FOUND')
    t.equal(await page.locator('#problem-title').textContent(), 'Order not found')
    await page.screenshot({ path: join(SCREENSHOTS, 'demo-problem.png'), fullPage: true })

    t.same(cspViolations, [], 'no CSP violation')
    t.same(errors.filter((error) => !error.includes('/orders/99999')), [], 'no console error but the 404 the page shows')
  })

  t.test('a page on an origin listed in CORS_ORIGINS reads orders; a page on another origin can not', async (t) => {
    const listed = await pageServer(t)
    const unlisted = await pageServer(t)
    const { url } = await startClockedService(t, {}, { CORS_ORIGINS: listed })
    const orderUrl = `${url}/orders/54?machine=16327129`
    const read = `fetch(${JSON.stringify(orderUrl)}).then(async (r) => ({ status: r.status, id: (await r.json()).id }), (e) => ({ error: e.name }))`

    // the first event of the stream, or how it failed: EventSource reports a refused CORS check as an error
    const stream = `new Promise((resolve) => {
      const source = new EventSource(${JSON.stringify(`${url}/orders/54/events?machine=16327129`)})
      source.addEventListener('order', (event) => { source.close(); resolve({ event: 'order', id: JSON.parse(event.data).id }) })
      source.addEventListener('error', () => { source.close(); resolve({ error: 'refused' }) })
    })`

    const { page } = await watchedPage(t, context)
    await page.goto(listed)
    t.same(await page.evaluate(read), { status: 200, id: 54 }, `${listed} reads the order`)
    t.same(await page.evaluate(stream), { event: 'order', id: 54 }, `${listed} opens the stream`)
    await page.goto(unlisted)
    t.same(await page.evaluate(read), { error: 'TypeError' }, `${unlisted} is refused by the browser`)
    t.same(await page.evaluate(stream), { error: 'refused' }, `${unlisted} can not open the stream`)
  })
}

/** A tiny page on a port of its own, hence an origin of its own; returns that origin. */
async function pageServer (t: Test): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><title>another origin</title><p>another origin')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}
