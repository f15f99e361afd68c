import { parseArgs } from 'node:util'
import type { DestinationStream, Logger } from 'pino'
import { createLogger } from '../src/observability/logger.js'
import { median } from './stats.js'

// `node dist/bench/request-logger.js [--rounds 10] [--requests 100000]`: the CPU time one request's
// logger costs, as Fastify uses it: a child bound to the request id, then the "incoming request" and
// "request completed" lines (skipped at warn, written at info). The variants run alternately in one
// process, so other load on the machine hits them alike; CPU time, not wall time, is compared.

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' }, requests: { type: 'string', default: '100000' } } })
const rounds = Number(values.rounds)
const requests = Number(values.requests)

// the redaction paths before issue 11: every credential name at any of the first three depths
const WILDCARD_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers.appid', 'req.headers.appsecret',
  'headers.Appid', 'headers.AppSecret', 'headers.authorization',
  ...['appId', 'appSecret', 'signKey', 'Appid', 'AppSecret', 'apiKeys'].flatMap((key) => [key, `*.${key}`, `*.*.${key}`])
]

const discard: DestinationStream = { write () {} }
const request = { method: 'GET', url: '/orders/1001?machine=16327129', headers: {}, host: '127.0.0.1:3000', ip: '127.0.0.1', socket: { remotePort: 50000 } }
const reply = { statusCode: 200 }

type Factory = (parent: Logger, bindings: { requestId: string }) => Logger

interface Variant {
  name: string
  parent: (level: string) => Logger
  child: Factory
}

const service = (level: string): Logger => createLogger(level, discard)
// the service's logger (its serializers too) with other redaction paths
const withPaths = (paths: string[]) => (level: string): Logger => service(level).child({}, { redact: { paths, censor: '[redacted]' } })
const plainChild: Factory = (parent, bindings) => parent.child(bindings)

const VARIANTS: Variant[] = [
  // the floor, and about what a child made only when a line is written costs at warn
  { name: 'no child (the parent itself)', parent: service, child: (parent) => parent },
  { name: 'pino child, REDACT_PATHS', parent: service, child: plainChild },
  { name: 'pino child, the wildcard paths', parent: withPaths(WILDCARD_PATHS), child: plainChild }
]

/** CPU nanoseconds per request for one variant at one level. */
function measure (variant: Variant, parent: Logger): number {
  const before = process.cpuUsage()
  for (let i = 0; i < requests; i++) {
    const log = variant.child(parent, { requestId: `req-${i}` })
    log.info({ req: request }, 'incoming request')
    log.info({ res: reply, responseTime: 1.25 }, 'request completed')
  }
  const used = process.cpuUsage(before)
  return ((used.user + used.system) * 1000) / requests
}

for (const level of ['warn', 'info']) {
  const parents = VARIANTS.map((variant) => variant.parent(level))
  const samples: number[][] = VARIANTS.map(() => [])
  // the first round warms up the JIT and is not counted
  for (let round = 0; round <= rounds; round++) {
    for (const [index, variant] of VARIANTS.entries()) {
      const ns = measure(variant, parents[index]!)
      if (round > 0) samples[index]!.push(ns)
    }
  }
  process.stdout.write(`LOG_LEVEL=${level}: CPU ns per request, median (min–max) of ${rounds} rounds of ${requests}\n`)
  for (const [index, variant] of VARIANTS.entries()) {
    const ns = samples[index]!
    process.stdout.write(`  ${variant.name.padEnd(34)} ${median(ns).toFixed(0).padStart(6)} (${Math.min(...ns).toFixed(0)}–${Math.max(...ns).toFixed(0)})\n`)
  }
}
