import { readFile } from 'node:fs/promises'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'

// `node dist/bench/profile-top.js FILE.cpuprofile [N]`: the functions with the most self time in
// a V8 CPU profile (from `npm run bench -- --profile DIR`), aggregated by function and location,
// as shares of the busy samples: idle time, which depends on the other contestant's rounds, is left out.

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Self samples per function, as [label, share of the non-idle samples] sorted by share. */
export function topSelfTime (nodes: ProfileNode[], limit: number): Array<[string, number]> {
  const byFunction = new Map<string, number>()
  let total = 0
  for (const node of nodes) {
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === '(idle)') continue
    const hits = node.hitCount ?? 0
    total += hits
    const where = url === '' ? '' : ` ${url.startsWith('file://') ? relative(ROOT, fileURLToPath(url)) : url}:${lineNumber + 1}`
    const label = `${functionName === '' ? '(anonymous)' : functionName}${where}`
    byFunction.set(label, (byFunction.get(label) ?? 0) + hits)
  }
  return [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([label, hits]) => [label, hits / total])
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, count] = process.argv.slice(2)
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/profile-top.js FILE.cpuprofile [N]\n')
    process.exit(2)
  }
  const profile = JSON.parse(await readFile(file, 'utf8')) as { nodes: ProfileNode[] }
  for (const [label, share] of topSelfTime(profile.nodes, Number(count ?? 25))) {
    process.stdout.write(`${(share * 100).toFixed(1).padStart(5)}%  ${label}\n`)
  }
}
