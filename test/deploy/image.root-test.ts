import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'

// `npm run test:image`: the Dockerfile built and its image run as a container would run it. No
// image can be pulled here, so the base is one the project makes (scripts/image-base.sh: Debian
// bookworm minbase, this machine's node and npm), and since `podman run` is refused on these
// machines (crun cannot set rlimits), the image is mounted and its command run by chroot, as its
// user, in its WORKDIR with its ENV, on a read-only view of its filesystem with a tmpfs at /tmp
// (the manifests set readOnlyRootFilesystem). Needs root, podman and debootstrap (the base script
// installs the last two) and minutes, not seconds: named so that `npm test` (test/**/*.test.ts)
// leaves it out.

const ROOT = new URL('../..', import.meta.url).pathname
const TAG = 'localhost/vending-orders:image-test'
const run = promisify(execFile)
const seconds = (since: number): string => `${((performance.now() - since) / 1000).toFixed(1)} s`

/** A command's stdout; its output goes to the log as it comes, for a build that takes minutes. */
async function sh (command: string, args: string[], options: { quiet?: boolean } = {}): Promise<string> {
  // not tap's NODE_OPTIONS (its loaders), which the base script's node inside the new root cannot find
  const { NODE_OPTIONS: _, ...env } = process.env
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk; if (options.quiet !== true) process.stderr.write(chunk) })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`)
  return stdout
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', resolve))

t.test('the image, built and run as its container would be', { timeout: 40 * 60_000 }, async (t) => {
  if (process.getuid?.() !== 0) return t.fail('the image test needs root (debootstrap, podman, mount, chroot)')

  // cleanup in reverse order of setup, whatever fails in between
  const undo: Array<() => Promise<unknown>> = []
  t.teardown(async () => {
    for (const step of undo.reverse()) await step().catch((error: Error) => console.error(`cleanup: ${error.message}`))
  })

  let since = performance.now()
  const base = (await sh('bash', ['scripts/image-base.sh'])).trim().split('\n').at(-1)!
  t.comment(`base image ${base}: ${seconds(since)}`)

  since = performance.now()
  // docker format: OCI images have no HEALTHCHECK
  await sh('podman', ['build', '--isolation=chroot', '--network=host', '--format', 'docker', '--build-arg', `NODE_IMAGE=${base}`, '-t', TAG, '.'])
  t.comment(`podman build: ${seconds(since)}`)

  const [image] = JSON.parse(await sh('podman', ['image', 'inspect', TAG]))
  const config = image.Config
  t.comment(`image size: ${(image.Size / 2 ** 20).toFixed(0)} MiB`)
  t.equal(config.User, 'node', 'the image runs as its node user')
  t.ok(config.WorkingDir, `WORKDIR ${config.WorkingDir}`)
  t.ok(Array.isArray(config.Cmd) && config.Cmd.length > 0, `CMD ${JSON.stringify(config.Cmd)}`)
  // podman puts the docker format's HEALTHCHECK beside Config
  const healthcheck: string[] = (image.Healthcheck ?? config.Healthcheck)?.Test ?? []
  t.equal(healthcheck[0], 'CMD', 'a HEALTHCHECK, exec form')

  since = performance.now()
  const work = mkdtempSync(join(tmpdir(), 'vending-orders-image-'))
  undo.push(async () => rmSync(work, { recursive: true, force: true }))
  const mounted = (await sh('podman', ['image', 'mount', TAG])).trim()
  undo.push(() => sh('podman', ['image', 'unmount', TAG]))
  // the image's filesystem read-only, as readOnlyRootFilesystem has it; a tmpfs at /tmp, /proc and /dev for node
  const rootfs = join(work, 'rootfs')
  mkdirSync(rootfs)
  await sh('mount', ['--bind', mounted, rootfs])
  undo.push(() => sh('umount', [rootfs]))
  await sh('mount', ['-o', 'remount,bind,ro', rootfs])
  await sh('mount', ['-t', 'proc', 'proc', join(rootfs, 'proc')])
  undo.push(() => sh('umount', [join(rootfs, 'proc')]))
  await sh('mount', ['--bind', '/dev', join(rootfs, 'dev')])
  undo.push(() => sh('umount', [join(rootfs, 'dev')]))
  await sh('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=1777', 'tmpfs', join(rootfs, 'tmp')])
  undo.push(() => sh('umount', [join(rootfs, 'tmp')]))
  t.throws(() => writeFileSync(join(rootfs, 'written-by-the-test'), ''), { code: 'EROFS' }, 'the image\'s filesystem is read-only but for /tmp')

  const [port, metricsPort] = [await freePort(), await freePort()]
  const imageEnv = (config.Env as string[]).filter((pair) => !pair.startsWith('HOME='))
  // loopback only; a short drain so the stop is quick
  const env = [...imageEnv, 'HOME=/tmp', 'HOST=127.0.0.1', `PORT=${port}`, 'METRICS_HOST=127.0.0.1', `METRICS_PORT=${metricsPort}`, 'SHUTDOWN_DELAY_MS=200']
  /** A command as the image's user, in its WORKDIR, with only its environment: what the engine would exec. */
  const inImage = (command: string[], extra: string[] = []): [string, string[]] =>
    ['chroot', ['--userspec=1000:1000', rootfs, '/usr/bin/env', '-i', '-C', config.WorkingDir, ...env, ...extra, ...command]]

  // the image as shipped (NODE_ENV=production) with no vendor settings refuses to start on the simulator
  const refused = await run(...inImage(config.Cmd)).then(() => 'started', (error: { code?: number, stdout?: string, stderr?: string }) =>
    `exit ${error.code}: ${error.stdout ?? ''}${error.stderr ?? ''}`)
  t.match(refused, /^exit [1-9][\s\S]*refuses to fall back to the embedded simulator/, 'as shipped, without a vendor, it refuses to start')

  // demo mode: no vendor settings, and a NODE_ENV other than production (`docker run -e NODE_ENV=development`)
  const service = spawn(...inImage(config.Cmd, ['NODE_ENV=development']), { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  service.stdout!.on('data', (chunk: Buffer) => { output += chunk })
  service.stderr!.on('data', (chunk: Buffer) => { output += chunk })
  undo.push(async () => {
    if (service.exitCode === null && service.signalCode === null) service.kill('SIGKILL')
    await exited(service)
  })

  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  let live: Response | undefined
  while (Date.now() < deadline && service.exitCode === null) {
    live = await fetch(`${url}/health/live`).catch(() => undefined)
    if (live?.status === 200) break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  if (live?.status !== 200) {
    t.fail(`the service did not answer /health/live within a minute (exit ${service.exitCode}): ${output.slice(-3000)}`)
    return
  }
  t.comment(`service up: ${seconds(since)} after the mount`)
  t.pass('/health/live answers 200')
  t.match(output, /DEMO MODE/, 'in demo mode, no vendor configured')

  const status = readFileSync(`/proc/${service.pid}/status`, 'utf8')
  const uids = /^Uid:\s+(.+)$/m.exec(status)?.[1]?.split(/\s+/)
  t.same(uids, ['1000', '1000', '1000', '1000'], 'the process is uid 1000, real, effective, saved and filesystem: not root')
  t.match(readFileSync(`/proc/${service.pid}/cmdline`, 'utf8'), /dist\/src\/server\.js/, 'and it is the server')

  const order = await fetch(`${url}/orders/54?machine=16327129`)
  t.equal(order.status, 200, 'GET /orders/54?machine=16327129 is 200')
  t.match(await order.json(), { id: 54 }, 'order 54')

  const docs = await fetch(`${url}/docs`)
  t.equal(docs.status, 200, '/docs is 200')
  t.match(await docs.text(), /swagger-ui/i, 'Swagger UI')

  const demo = await fetch(`${url}/demo`)
  t.equal(demo.status, 200, '/demo is 200 in demo mode')
  t.match(demo.headers.get('content-type'), /^text\/html/, 'as HTML')
  const page = await demo.text()
  const importMap = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(page)?.[1] ?? '{}')
  const assets = [...page.matchAll(/(?:src|href)="(\/demo\/[^"]+)"/g)].map((match) => match[1]!)
    .concat(Object.values<string>(importMap.imports ?? {}))
  t.ok(assets.includes('/demo/client/index.js') && assets.includes('/demo/vendor/openapi-fetch.js'), `the page loads ${assets.join(', ')}`)
  for (const asset of assets) {
    const response = await fetch(`${url}${asset}`)
    const body = await response.text()
    t.ok(response.status === 200 && body.length > 0, `${asset} is served (${response.status}, ${body.length} bytes)`)
  }

  // the HEALTHCHECK as the engine runs it: the same user, directory and environment
  const [, ...check] = healthcheck
  const passes = await run(...inImage(check, ['NODE_ENV=development'])).then(() => true, () => false)
  t.ok(passes, 'the HEALTHCHECK command passes')
  const elsewhere = await run(...inImage(check, [`PORT=${await freePort()}`])).then(() => true, () => false)
  t.notOk(elsewhere, 'and fails where nothing answers')

  t.notMatch(output, /EROFS|read-only file system/i, 'no write was tried outside /tmp while it served')

  service.kill('SIGTERM')
  t.equal(await exited(service), 0, 'SIGTERM: it drains and exits 0')
  t.comment(`the image test ran ${seconds(since)} after the build`)
})
