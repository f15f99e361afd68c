import { spawn } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import { redisServerInstalled } from '../scripts/redis-server.js'

// Benchmarks are not tests: this only checks that the quick run of `npm run bench` completes and
// prints its tables. It builds first (prebench), then runs every scenario for half a second.
// `npm run bench:smoke` runs it, as its own CI step: too heavy for `npm test` on a busy machine.
// The Redis scenarios need Debian's redis-server: without it the run skips them with a note
// (and fails instead under REQUIRE_REDIS=1, as in .ci/run, which installs it).

const ROOT = new URL('..', import.meta.url).pathname

t.setTimeout(420_000)

t.test('npm run bench -- --quick completes and prints the tables', async (t) => {
  // a process group of its own, so teardown can end npm, the driver and every server it started
  const child = spawn('npm', ['run', '--silent', 'bench', '--', '--quick'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...process.env.REQUIRE_REDIS === undefined ? {} : { REQUIRE_REDIS: process.env.REQUIRE_REDIS } },
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
  t.match(stdout, /^\| uncached \| baseline \(c\) typical Express \+ axios BFF \| [1-9]\d* /m, 'an uncached row of the Express + axios BFF, answering')
  t.match(stdout, /^\| uncached throughput ÷ Express \+ axios BFF \| [\d.]+× \| ≥ 3\.00× \|/m, 'the target against the Express + axios BFF')
  t.match(stdout, /^\| uncached throughput ÷ bare passthrough \| [\d.]+× \| ≥ 0\.75× \|/m, 'the target against the passthrough')
  t.match(stdout, /^\| cache hit \| baseline \(b\) constant in memory, the service's \d+ headers \| [1-9]\d* /m, 'the equal-output constant route, answering')
  t.match(stdout, /^\| cache hit \| baseline \(b\) constant in memory, body only \| [1-9]\d* /m, 'the body-only constant route, answering')
  t.match(stdout, /^\| cache-hit throughput ÷ equal-output constant route \| [\d.]+× \| ≥ 0\.95× \|/m, 'the cache-hit target against the equal-output route')
  if (redisServerInstalled()) {
    for (const row of ['two-replica fan-in', 'redis cache hit']) t.match(stdout, new RegExp(`^\\| ${row}`, 'm'), `a ${row} row`)
    t.match(stdout, /\| two-replica fan-in vendor calls\/s, Redis shared, while serving \d+ req\/s \| [\d.]+ /)
  } else {
    t.match(stdout, /two-replica-fan-in and redis-cache-hit: skipped, redis-server is not installed/)
  }
  t.match(stdout, /^\| events, 200 clients on one order \| SSE streams/m, 'an events row, streams')
  t.match(stdout, /^\| events, 200 clients on one order \| polling every 1 s/m, 'an events row, pollers')
  t.match(stdout, /\| events: vendor calls\/s with 200 SSE streams on one order \| [\d.]+ /)
  t.match(stdout, /^\| events, 200 streams, callback-driven, floor \| bare node:http floor/m, 'the events floor row')
  t.match(stdout, /The floor's own loop handed the final frame of 200 streams to the kernel in \d+ ms/, 'the floor\'s own fan-out time')
  t.match(stdout, /\| target \| measured \| goal \| result \|/)
  t.match(stdout, /service peak RSS/)
  t.match(stdout, /^\| service peak RSS, 5000 distinct orders through a full cache/m, 'the distinct-orders target')
})
