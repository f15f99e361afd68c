import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import type { Test } from 'tap'

/** Debian's chromium (`apt-get install chromium`); a browser is never downloaded. */
export const CHROMIUM = '/usr/bin/chromium'

/** Where the browser tests write their screenshots (CI keeps them as artefacts). */
export const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url))

/**
 * Why the browser tests cannot run here, or undefined when they can. With REQUIRE_BROWSER=1
 * (CI sets it) a missing chromium is a failure, not a skip.
 */
export function missingChromium (): string | undefined {
  if (existsSync(CHROMIUM)) return undefined
  return `chromium not found at ${CHROMIUM} — apt-get install chromium to run the browser tests`
}

/**
 * Chromium headless with a fresh profile, no network of its own (no updates, sync or QUIC), closed
 * in teardown.
 */
export async function launchChromium (t: Test): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'chromium-profile-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(async () => {
    await context.close()
    await rm(profile, { recursive: true, force: true })
  })
  await mkdir(SCREENSHOTS, { recursive: true })
  return context
}

export interface PageWatch {
  /** console errors and uncaught exceptions, as text */
  errors: string[]
  /** Content-Security-Policy violations the page reported */
  cspViolations: string[]
}

/** A new page that records its console errors, uncaught exceptions and CSP violations; closed in teardown. */
export async function watchedPage (t: Test, context: BrowserContext): Promise<{ page: Page } & PageWatch> {
  const page = await context.newPage()
  t.teardown(() => page.close())
  const errors: string[] = []
  const cspViolations: string[] = []
  page.on('console', (message) => { if (message.type() === 'error') errors.push(`${message.text()} (${message.location().url})`) })
  page.on('pageerror', (error) => errors.push(error.message))
  await page.exposeFunction('reportCspViolation', (text: string) => cspViolations.push(text))
  // an init script runs before the page's own scripts and is not subject to its CSP
  await page.addInitScript({
    content: "document.addEventListener('securitypolicyviolation', (event) => reportCspViolation(event.violatedDirective + ' blocked ' + event.blockedURI))"
  })
  return { page, errors, cspViolations }
}
