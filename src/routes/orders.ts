import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { nextChange, preferredWait } from './long-poll.js'
import { clientKey } from '../http/client-key.js'
import { ORDER_PROBLEMS } from '../http/order-problems.js'
import { problem } from '../http/problem.js'
import { serializerCompiler } from '../http/serializer.js'
import { z } from 'zod'
import type { Served } from '../orders/outcome.js'
import { cacheControl, cacheStatus, matchesIfNoneMatch, orderBody, representationOf } from '../orders/representation.js'
import { OrderParamsSchema, OrderQuerySchema, OrderSchema, type Order } from '../orders/schema.js'
import type { StreamSlots } from './stream-slots.js'

export interface OrdersOptions {
  /** EVENTS_MAX_STREAMS and EVENTS_MAX_PER_CLIENT: a long poll holds a slot while it waits, as an event stream does */
  slots: StreamSlots
}

/** What the order's own headers are: not said on a refused long poll, whose answer is no representation of it. */
const REPRESENTATION_HEADERS = ['etag', 'cache-control', 'cache-status', 'preference-applied']

export const ordersRoute: FastifyPluginAsyncZod<OrdersOptions> = async (app, { slots }) => {
  app.get('/orders/:id', {
    // an order is serialized once, by its representation; every other status as the app's serializers do
    serializerCompiler: (route) => route.httpStatus === '200' ? orderBody : serializerCompiler(route),
    schema: {
      tags: ['orders'],
      operationId: 'getOrder',
      summary: 'Status of one order',
      description: 'Payment status of the order and dispensing status of each of its lines, as the vendor reports them now. Poll until `terminal` is true.',
      params: OrderParamsSchema,
      querystring: OrderQuerySchema,
      security: [{ bearerAuth: [] }],
      response: {
        200: OrderSchema.meta({ description: 'The order. ETag, Cache-Control and Cache-Status (RFC 9211) say how fresh it is; `Cache-Status: vending-orders; fwd=stale; detail=stale-if-error` means the vendor failed just now and this is the last answer it gave (served so for at most CACHE_STALE_MS after it stopped being fresh).' }),
        304: z.null().meta({ description: 'Not modified: the If-None-Match ETag still matches.' }),
        ...ORDER_PROBLEMS,
        429: problem('Too many requests from this API key, or from this client address when keys are off (RATE_LIMITED), or a long poll (Prefer: wait) while it holds EVENTS_MAX_PER_CLIENT event streams and long polls (across the replicas when they share Redis); see Retry-After.'),
        503: problem('The machine is offline (MACHINE_OFFLINE), every vendor-call slot stayed taken (UPSTREAM_BUSY) or VENDOR_MAX_CALLS_PER_SECOND had no call left in time (UPSTREAM_BUDGET_SPENT) so the vendor was not called, or this service is shedding load or, for a long poll, has EVENTS_MAX_STREAMS event streams and long polls open (UNAVAILABLE); see Retry-After.')
      }
    }
  }, async (request, reply) => {
    const { id } = request.params
    const { machine } = request.query
    const served = await app.orders.getOrder(id, machine, request.log)
    reply.header('vary', varyByPrefer(reply.getHeader('vary')))
    const order = sendable(served, reply)
    const { etag } = representationOf(order)
    // a wait needs a version to wait past (If-None-Match), and nothing can change in a terminal order
    const wait = order.terminal || request.headers['if-none-match'] === undefined ? undefined : preferredWait(request.headers.prefer)
    // said whenever the wait is honoured, also when the order changed already: the client learns long polling works
    if (wait !== undefined) reply.header('preference-applied', `wait=${wait}`)
    if (!matchesIfNoneMatch(request.headers['if-none-match'], etag)) return reply.send(order)
    if (wait !== undefined) {
      // a long poll: held until the shared poller sees the order change, the wait ends or the client leaves
      const left = new AbortController()
      reply.raw.once('close', () => { left.abort() })
      const release = await holdSlot(request, reply)
      let changed
      try {
        changed = await nextChange(app.watchers, { id, machineNo: machine, tag: etag, timeoutMs: wait * 1000, signal: left.signal })
      } finally {
        release()
      }
      // Cache-Status says how the poller got the change
      if (changed !== undefined) return reply.send(sendable(changed, reply))
    }
    // returning nothing sends no body at all, where a null payload would be serialized to the text "null"
    reply.code(304)
  })

  /** The slot a long poll holds while it waits; refused, the answer is the refusal alone, without the order's headers. */
  async function holdSlot (request: FastifyRequest, reply: FastifyReply): Promise<() => void> {
    try {
      return await slots.take(clientKey(request))
    } catch (error) {
      for (const header of REPRESENTATION_HEADERS) reply.removeHeader(header)
      throw error
    }
  }
}

/**
 * Sets the headers that say how fresh the outcome is and returns the order; a kept
 * problem (no such order, expired) is thrown, and the error handler answers it with those headers.
 */
function sendable (served: Served, reply: FastifyReply): Order {
  const { outcome } = served
  const now = Date.now()
  reply.header('cache-control', cacheControl(outcome, now)).header('cache-status', cacheStatus(served, now))
  if (outcome.kind === 'error') throw outcome.error
  // the 200's serializer is the representation's: every poll of a kept order sends the same string
  reply.header('etag', representationOf(outcome.order).etag)
  return outcome.order
}

/** Vary with Prefer added: a `Prefer: wait` request may be answered differently. */
function varyByPrefer (vary: unknown): string {
  return typeof vary === 'string' && vary !== '' ? `${vary}, Prefer` : 'Prefer'
}
