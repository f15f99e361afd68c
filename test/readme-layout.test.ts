import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'

// The README's Layout section is how a newcomer finds their way: it must name every module
// there is, and nothing that is gone.

const ROOT = new URL('..', import.meta.url).pathname
const readme = readFileSync(`${ROOT}README.md`, 'utf8')
const block = /## Layout[\s\S]*?```\n([\s\S]*?)```/.exec(readme)?.[1] ?? ''
// the src/ part of it: from `src/` to the next line that starts in the first column
const layout = block.split(/\n(?=\S)/).find((part) => part.startsWith('src/')) ?? ''

/** src/ files by folder; the simulator is listed as a folder of its own. */
function sourceFiles (): string[] {
  return readdirSync(`${ROOT}src`, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => `${entry.parentPath.slice(`${ROOT}src`.length).replace(/^\//, '')}/${entry.name}`.replace(/^\//, ''))
    .filter((path) => !path.startsWith('simulator/'))
}

t.test('the README layout names every source module', async (t) => {
  t.not(layout, '', 'the README has a Layout code block')
  for (const path of sourceFiles()) {
    t.match(layout, new RegExp(`(^|[\\s,])${path.split('/').pop()!.replace('.', '\\.')}\\b`, 'm'), `${path} is in the layout`)
  }
})

t.test('the README layout names no module that is gone', async (t) => {
  const named = new Set(sourceFiles().map((path) => path.split('/').pop()))
  const listed = [...layout.matchAll(/([a-z0-9-]+\.ts)\b/g)].map((match) => match[1]!)
  t.ok(listed.length > 20, `${listed.length} modules listed`)
  for (const file of listed) t.ok(named.has(file), `${file} exists under src/`)
})
