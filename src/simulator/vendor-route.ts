import { setMaxListeners } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { SimulatorCredentials } from './credentials.js'
import { envelope, MESSAGES } from './envelope.js'
import { GARBAGE, HTML_502, hugeBody, resetConnection, resetMidBody } from './fault-replies.js'
import { pickFault, type Faults } from './faults.js'
import { answerOrderQuery } from './order-query.js'
import type { SimulatorStats } from './stats.js'

export interface VendorRouteOptions {
  credentials: SimulatorCredentials
  stats: SimulatorStats
  faults: () => Faults
  /** how far into its run a clock order is (starts the run when asked first) */
  elapsedMs: (orderId: string, machineNo: string) => number
}

interface OrderRequest {
  Params: { orderId: string }
  Body: unknown
}

function bump (counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1
}

/** The vendor's order query, behind the transport faults. Registered in its own encapsulated scope. */
export async function vendorRoute (scope: FastifyInstance, options: VendorRouteOptions): Promise<void> {
  const { credentials, stats } = options
  // delays end early when the app closes, so close() never waits out a 'slow' fault
  const closing = new AbortController()
  // every delayed answer listens on this one signal; hundreds at once are expected, not a leak
  setMaxListeners(0, closing.signal)
  scope.addHook('preClose', async () => { closing.abort() })
  const pause = async (ms: number): Promise<void> => {
    if (ms > 0) await sleep(ms, undefined, { signal: closing.signal }).catch(() => {})
  }

  // the vendor parses the body itself: every body arrives as a string, bad JSON is a 4003, not a 400
  scope.removeAllContentTypeParsers()
  scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => { done(null, body) })

  // fastify's own rejections (body too large, ...) still come back as an envelope
  scope.setErrorHandler(async (error: { statusCode?: number, message: string }, _request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
    return reply.code(status).send(envelope(status >= 500 ? 500 : 400, null, status >= 500 ? MESSAGES[500] : error.message))
  })

  scope.post<OrderRequest>('/api/openapi/v1/orders/:orderId', {
    // counted before the body is even read, so tests can prove whether a request reached the vendor
    onRequest: async (request: FastifyRequest<OrderRequest>) => {
      stats.calls++
      bump(stats.byOrder, request.params.orderId)
    }
  }, async (request, reply: FastifyReply) => {
    const faults = options.faults()
    await pause(faults.latencyMs)
    const fault = pickFault(faults)
    if (fault !== null) bump(stats.faults, typeof fault === 'string' ? fault : 'error')

    if (typeof fault === 'object' && fault !== null) {
      return reply.code(fault.httpStatus ?? 200).send(envelope(fault.code, {}, fault.message ?? MESSAGES[fault.code] ?? 'error'))
    }
    switch (fault) {
      case 'reset': return resetConnection(request, reply)
      case 'garbage': return reply.code(200).type('text/plain; charset=utf-8').send(GARBAGE)
      case 'html502': return reply.code(502).type('text/html').send(HTML_502)
      case 'huge': return reply.code(200).type('application/json; charset=utf-8').send(hugeBody())
      case 'slow': await pause(faults.slowMs)
    }

    const result = answerOrderQuery({
      orderId: request.params.orderId,
      headers: request.headers,
      body: request.body,
      elapsedMs: options.elapsedMs
    }, credentials)
    if (fault === 'resetMidBody') return resetMidBody(reply, result.httpStatus, JSON.stringify(result.body))
    return reply.code(result.httpStatus).send(result.body)
  })
}
