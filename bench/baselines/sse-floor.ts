import { createServer, type ServerResponse } from 'node:http'
import { formatFrame } from '../../src/orders/live/event-frame.js'
import { representationOf } from '../../src/orders/representation.js'
import { ORDER_EXAMPLE, OrderSchema } from '../../src/orders/schema.js'

// The floor of the callback-driven events scenario: the least a Node http server can do for
// it, with nothing of the service's. It answers the same paths with the same bytes' worth of
// orders: GET /orders/:id is the order in its first state, GET /orders/:id/events a stream that
// sends it at once, and a POST to /callbacks/delivery/:token answers 204 and then ends every open
// stream with the order's final state in one synchronous loop: one `res.end(frame)` per stream,
// no hooks, no logging, no timers, no chunking. What the same client measures against it is what
// this machine and Node's http layer leave for any service.

const first = OrderSchema.parse({ ...ORDER_EXAMPLE, status: 'SUCCESS' })
const final = OrderSchema.parse({
  ...ORDER_EXAMPLE,
  terminal: true,
  items: ORDER_EXAMPLE.items.map((item) => ({ ...item, status: 'IS_SUCCESS', notifySent: true }))
})
const firstBody = representationOf(first).body
const firstFrame = frame(first)
const finalFrame = frame(final)

function frame (order: typeof first): Buffer {
  const { etag, body } = representationOf(order)
  return formatFrame({ event: 'order', id: etag, data: body })
}

const streams = new Set<ServerResponse>()
/** the last fan-out: how many streams, and ms from its start until every frame was handed to the kernel */
let lastFanOut: { streams: number, ms: number } | null = null

const server = createServer((req, res) => {
  const path = req.url ?? '/'
  if (req.method === 'POST' && path.startsWith('/callbacks/delivery/')) {
    req.resume()
    req.once('end', () => {
      res.writeHead(204).end()
      const started = performance.now()
      const fannedOut = streams.size
      for (const stream of streams) stream.end(finalFrame)
      streams.clear()
      // the writes leave in the ticks after the loop (each end corks its socket until then), all before the next immediate
      setImmediate(() => { lastFanOut = { streams: fannedOut, ms: performance.now() - started } })
    })
    return
  }
  if (path === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ lastFanOut }))
    return
  }
  if (path === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}')
    return
  }
  if (/^\/orders\/\d+\/events(\?|$)/.test(path)) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    res.write(Buffer.concat([Buffer.from('retry: 2000\n\n'), firstFrame]))
    streams.add(res)
    res.once('close', () => { streams.delete(res) })
    return
  }
  if (/^\/orders\/\d+(\?|$)/.test(path)) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(firstBody)
    return
  }
  res.writeHead(404).end()
})
// as the service is set for the bench: any number of connections, and idle ones kept for the whole run
server.maxConnections = Infinity
server.keepAliveTimeout = 0

process.once('SIGTERM', () => { server.close(); process.exit(0) })
process.once('SIGINT', () => { server.close(); process.exit(0) })

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1')
