import { createServer } from 'node:http'

// The OTLP/HTTP endpoint of the tracing scenario: accepts every export and throws it away, counting
// what came (a collector's own cost is not the service's). A traced cache hit exports one
// "cache lookup" span, and a span's name travels as plain bytes in both encodings, so counting
// that name counts the requests whose spans arrived.

const LOOKUP = Buffer.from('cache lookup')
const stats = { posts: 0, bytes: 0, lookups: 0 }

function occurrences (body: Buffer, needle: Buffer): number {
  let count = 0
  for (let at = body.indexOf(needle); at !== -1; at = body.indexOf(needle, at + needle.length)) count++
  return count
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(req.url === '/stats' ? JSON.stringify(stats) : '{"status":"ok"}')
      return
    }
    const body = Buffer.concat(chunks)
    stats.posts++
    stats.bytes += body.length
    stats.lookups += occurrences(body, LOOKUP)
    // an empty ExportTraceServiceResponse, in either encoding
    const json = (req.headers['content-type'] ?? '').includes('json')
    res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '')
  })
})

process.once('SIGTERM', () => { server.close(() => process.exit(0)) })
process.once('SIGINT', () => { server.close(() => process.exit(0)) })

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1')
