import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

// `node dist/bench/profile-categories.js FILE.cpuprofile [µs per answer]`: a V8 CPU profile's busy
// samples by what they were doing (HTTP framework, validation, signing, the vendor request, ...),
// to compare the service's miss path with the baselines'. Each sample goes to the innermost frame
// of its stack that a rule below claims, so node's own http, stream and crypto code counts for
// whichever library or module called it. With the server's CPU per answer from the same run's
// report, the shares are also given as µs per answer. Module loading at startup is left out, as is
// idle time; the socket write syscall counts its wall time (see bench/profiling.md).

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string }
  hitCount?: number
  children?: number[]
}

type Rule = [category: string, test: (functionName: string, url: string) => boolean]

const inUrl = (...parts: string[]) => (_name: string, url: string): boolean => parts.some((part) => url.includes(part))

/** First match wins, frame by frame from the innermost out. */
const RULES: Rule[] = [
  ['(startup: module loading)', (name, url) => url.startsWith('node:internal/modules') || ['wrapSafe', 'compileSourceTextModule', 'compileForInternalLoader'].includes(name)],
  ['(garbage collector)', (name) => name === '(garbage collector)'],
  ['socket write syscall (writev)', (name, url) => url === '' && (name === 'writev' || name === 'writeBuffer' || name === 'writeUtf8String')],
  ['JSON parse', (name, url) => (url === '' && name === 'parse') || name === 'parseJson'],
  ['JSON stringify, serialize, ETag', (name, url) => (url === '' && name === 'stringify') || inUrl('fast-json-stringify', '/http/serializer.', '/orders/representation.')(name, url)],
  ['signing (payload, MD5)', (name, url) => url.includes('/upstream/signing.') || (url.includes('baselines/express-bff.') && ['sign', 'payloadFor'].includes(name))],
  ['validation (zod: request, vendor envelope and order)', inUrl('node_modules/zod/', 'fastify-type-provider-zod', '/upstream/schemas.', '/upstream/protocol.')],
  ['normalize (vendor order → ours)', (name, url) => inUrl('/orders/normalize.', '/orders/unknown-values.')(name, url) || (url.includes('baselines/express-bff.') && ['mapOrder', 'money', 'int'].includes(name))],
  ['logging (pino)', inUrl('node_modules/pino', '/observability/logger.', 'fast-redact', 'sonic-boom')],
  ['metrics (prom-client)', inUrl('prom-client', '/observability/metrics', '/plugins/request-metrics.')],
  ['tracing hooks', inUrl('@opentelemetry', '/observability/tracing', '/observability/request-tracing', '/plugins/tracing.')],
  ['rate limit', inUrl('rate-limit', '/plugins/rate-limit.')],
  ['resilience (breaker, queue, budget, retry)', inUrl('opossum', 'p-queue', 'eventemitter3', '/upstream/breaker.', '/upstream/resilient.', '/upstream/limiter.', '/upstream/call-budget.', '/upstream/retry.')],
  ['vendor request (undici, axios)', inUrl('node_modules/undici/', 'node_modules/axios/', 'follow-redirects', 'proxy-from-env', 'form-data', 'node:_http_client', 'node:_http_agent', '/upstream/')],
  ['HTTP framework (fastify, express)', inUrl('node_modules/fastify', 'node_modules/@fastify/', 'find-my-way', 'avvio', 'light-my-request', 'node_modules/express/', 'node_modules/router/', 'body-parser', 'finalhandler', 'node_modules/send/', 'etag', 'path-to-regexp', 'qs/lib', 'on-finished', 'content-type', 'node_modules/helmet')],
  ['service: orders, http, plugins', inUrl('/dist/src/')],
  ["a baseline's own route code", inUrl('/bench/baselines/')],
  ['node http server, net, streams', inUrl('node:_http', 'node:net', 'node:internal/streams', 'node:stream', 'node:events', 'node:internal/stream_base')],
  ['promises, ticks, timers', (name, url) => name === 'runMicrotasks' || url.startsWith('node:internal/process/task_queues') || url.startsWith('node:internal/timers') || url.startsWith('node:timers')]
]

/** Busy samples by category: the idle ones and those of `(program)` (V8 outside JS: counted apart) have no category of their own. */
export function categorize (nodes: ProfileNode[]): Map<string, number> {
  const parent = new Map<number, ProfileNode>()
  for (const node of nodes) for (const child of node.children ?? []) parent.set(child, node)
  const byCategory = new Map<string, number>()
  for (const node of nodes) {
    const hits = node.hitCount ?? 0
    if (hits === 0 || node.callFrame.functionName === '(idle)') continue
    let category = node.callFrame.functionName === '(program)' ? '(program)' : 'other'
    for (let frame: ProfileNode | undefined = node; frame !== undefined && category === 'other'; frame = parent.get(frame.id)) {
      const { functionName, url } = frame.callFrame
      const rule = RULES.find(([, test]) => test(functionName, url))
      if (rule !== undefined) category = rule[0]
    }
    byCategory.set(category, (byCategory.get(category) ?? 0) + hits)
  }
  return byCategory
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, perAnswer] = process.argv.slice(2)
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/profile-categories.js FILE.cpuprofile [server µs per answer]\n')
    process.exit(2)
  }
  const profile = JSON.parse(await readFile(file, 'utf8')) as { nodes: ProfileNode[] }
  const counts = categorize(profile.nodes)
  counts.delete('(startup: module loading)')
  const total = [...counts.values()].reduce((a, b) => a + b, 0)
  for (const [category, hits] of [...counts].sort((a, b) => b[1] - a[1])) {
    const share = hits / total
    const us = perAnswer === undefined ? '' : `  ${(share * Number(perAnswer)).toFixed(0).padStart(4)} µs`
    process.stdout.write(`${(share * 100).toFixed(1).padStart(5)}%${us}  ${category}\n`)
  }
}
