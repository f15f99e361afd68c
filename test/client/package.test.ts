import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { startClockedService } from '../clocked-service.js'

// The documented way to use the client outside this repository: `npm pack` it, install the
// tarball in an app, import it. Run for real: pack, install into an empty app, call the service.

const run = promisify(execFile)
const ROOT = new URL('../..', import.meta.url).pathname

t.test('the packed client installs into an app of its own and answers from the service', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'client-pack-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const packed = await run('npm', ['pack', '--workspace', 'clients/typescript', '--pack-destination', dir, '--json'], { cwd: ROOT })
  const [{ filename, files }] = JSON.parse(packed.stdout) as [{ filename: string, files: Array<{ path: string }> }]
  const paths = files.map((file) => file.path)
  for (const path of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts']) t.ok(paths.includes(path), `the tarball has ${path}`)
  t.notOk(paths.some((path) => path.startsWith('src/') || path.endsWith('.tsbuildinfo')), 'and no sources or build state: dist/ is what the package exports')

  const app = join(dir, 'app')
  await run('mkdir', [app])
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }))
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, filename)], { cwd: app })
  t.ok((await readdir(join(app, 'node_modules', '@vending-bff', 'client', 'dist'))).includes('index.js'), 'installed from the tarball')

  const { url } = await startClockedService(t)
  const script = `import { createOrdersClient } from '@vending-bff/client'
const result = await createOrdersClient({ baseUrl: process.argv[1] }).getOrder(54, '16327129')
console.log(JSON.stringify(result))`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, url], { cwd: app })
  t.match(JSON.parse(stdout), { ok: true, order: { id: 54, amount: '3.00', terminal: false } })
})
