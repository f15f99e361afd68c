import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

// Each fact lives on one page and the others link to it, so every link must land: the file
// exists inside the repository and, for a #fragment, the page has that heading. The README
// stays a five-minute read that reaches every page.

const ROOT = resolve(new URL('../..', import.meta.url).pathname)
const PAGES = ['README.md', 'deploy/README.md', 'clients/typescript/README.md',
  ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)]

/** The page's text outside fenced code blocks. */
function prose (page: string): string {
  return readFileSync(join(ROOT, page), 'utf8').replace(/^```[\s\S]*?^```/gm, '')
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes, repeats numbered. */
function anchors (page: string): Set<string> {
  const seen = new Map<string, number>()
  const result = new Set<string>()
  for (const [, heading] of prose(page).matchAll(/^#{1,6} +(.+?) *$/gm)) {
    const slug = heading!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-')
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    result.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return result
}

/** Relative markdown links: [text](target), not URLs with a scheme. */
function links (page: string): string[] {
  return [...prose(page).matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!).filter((target) => !/^[a-z]+:/i.test(target))
}

for (const page of PAGES) {
  t.test(`${page}: every link lands`, async (t) => {
    for (const target of links(page)) {
      const [path = '', fragment] = target.split('#')
      const file = path === '' ? join(ROOT, page) : resolve(ROOT, dirname(page), path)
      t.notOk(relative(ROOT, file).startsWith('..'), `${target} stays inside the repository`)
      t.ok(existsSync(file), `${target} exists`)
      if (fragment !== undefined && file.endsWith('.md') && existsSync(file) && statSync(file).isFile()) {
        t.ok(anchors(relative(ROOT, file)).has(fragment), `${target}: the page has that heading`)
      }
    }
  })
}

t.test('the README is short, keeps the two commands and reaches every docs page', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  t.ok(Buffer.byteLength(readme) < 12 * 1024, `${Buffer.byteLength(readme)} bytes, under 12 KB`)
  t.match(readme, /^npm ci && npm start {5}# .*embedded simulator if no vendor is configured/m, 'npm ci && npm start')
  t.match(readme, /^npm ci && npm test {6}# run every test/m, 'npm ci && npm test')
  const linked = new Set(links('README.md').map((target) => target.split('#')[0]))
  for (const page of PAGES.filter((page) => page !== 'README.md')) t.ok(linked.has(page), `the README links to ${page}`)
  t.equal((readme.match(/^```json$/gm) ?? []).length, 1, 'one example')
})
