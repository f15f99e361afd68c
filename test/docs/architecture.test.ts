import { existsSync, readdirSync, readFileSync } from 'node:fs'
import t from 'tap'

// docs/architecture.md's Layout is how a newcomer finds their way: it must name every module
// there is, and nothing that is gone. Every src/ path the page mentions elsewhere must exist too.

const ROOT = new URL('../..', import.meta.url).pathname
const page = readFileSync(`${ROOT}docs/architecture.md`, 'utf8')
const section = /^## Layout\n([\s\S]*?)(?=^## )/m.exec(page)?.[1] ?? ''
// the src/ tree: the section's first code block
const layout = /```\n([\s\S]*?)```/.exec(section)?.[1] ?? ''

/** src/ files by path; the simulator is listed as a folder of its own. */
function sourceFiles (): string[] {
  return readdirSync(`${ROOT}src`, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => `${entry.parentPath.slice(`${ROOT}src`.length).replace(/^\//, '')}/${entry.name}`.replace(/^\//, ''))
    .filter((path) => !path.startsWith('simulator/'))
}

/** The layout's files with their folders, from the indentation: `orders/live/bus.ts`. */
function listedPaths (): string[] {
  const folders: string[] = []
  const paths: string[] = []
  for (const line of layout.split('\n')) {
    const match = /^( *)(\S+)/.exec(line)
    if (match === null) continue
    const depth = match[1]!.length / 2
    const name = match[2]!
    folders.length = depth
    if (name.endsWith('/')) folders.push(name.slice(0, -1))
    else if (name.endsWith('.ts')) paths.push([...folders.slice(1), name].join('/'))
  }
  return paths
}

t.test('the layout names every source module, in its folder', async (t) => {
  t.not(layout, '', 'docs/architecture.md has a Layout code block')
  t.ok(layout.startsWith('src/'), 'the block is the src/ tree')
  const listed = new Set(listedPaths())
  for (const path of sourceFiles()) {
    t.ok(listed.has(path), `${path} is in the layout`)
  }
})

t.test('the layout names no module that is gone', async (t) => {
  const files = new Set(sourceFiles())
  const listed = listedPaths()
  t.ok(listed.length > 20, `${listed.length} modules listed`)
  for (const path of listed) t.ok(files.has(path), `${path} exists under src/`)
  // and no name the tree's structure missed (a file name inside a description, say)
  const named = new Set(sourceFiles().map((path) => path.split('/').pop()))
  for (const [, file] of layout.matchAll(/(?:^|\s)([a-z0-9-]+\.ts)\b/gm)) t.ok(named.has(file!), `${file} is a module`)
})

t.test('every src/ path the page mentions exists', async (t) => {
  const mentioned = new Set([...page.matchAll(/\bsrc\/[\w./-]*\w/g)].map((match) => match[0]))
  t.ok(mentioned.size > 10, `${mentioned.size} paths mentioned`)
  for (const path of mentioned) t.ok(existsSync(`${ROOT}${path}`), `${path} exists`)
})
