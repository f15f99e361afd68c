import { spawn } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'

// Benchmarks are not tests: this only checks that the quick run of `npm run bench` completes and
// prints its tables. It builds first (prebench), then runs every scenario for half a second.
// `npm run bench:smoke` runs it, as its own CI step: too heavy for `npm test` on a busy machine.

const ROOT = new URL('..', import.meta.url).pathname

t.setTimeout(240_000)

t.test('npm run bench -- --quick completes and prints the tables', async (t) => {
  // a process group of its own, so teardown can end npm, the driver and every server it started
  const child = spawn('npm', ['run', '--silent', 'bench', '--', '--quick'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true
  })
  t.teardown(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch { /* already gone */ }
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const [code] = await once(child, 'exit')
  t.equal(code, 0, `exit code (stderr: ${stderr.slice(-2000)})`)
  t.match(stdout, /\| scenario \| contestant \| req\/s \| p50 ms \| p99 ms \| errors \|/)
  for (const row of ['uncached', 'cache hit', 'fan-in', 'tracing, cache hit']) t.match(stdout, new RegExp(`^\\| ${row}`, 'm'), `a ${row} row`)
  t.match(stdout, /\| target \| measured \| goal \| result \|/)
  t.match(stdout, /service peak RSS/)
})
