import fastifySseModule, { type SSEPluginOptions } from '@fastify/sse'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Config } from '../config/config.js'
import { ORDER_PROBLEMS } from '../http/order-problems.js'
import { problem, toProblem } from '../http/problem.js'
import type { StreamSlots } from './stream-slots.js'
import type { Metrics } from '../observability/metrics.js'
import type { Outcome } from '../orders/outcome.js'
import { ORDER_EXAMPLE, OrderParamsSchema, OrderQuerySchema, OrderSchema } from '../orders/schema.js'
import { systemClock, type Clock } from '../orders/live/clock.js'
import { isFinal, outcomeTag } from '../orders/live/predicates.js'
import { formatFrame, orderFrame } from '../orders/live/event-frame.js'
import { clientKey } from '../http/client-key.js'
import { ERROR_KINDS, isAppError } from '../errors/catalogue.js'
import { createEventWriter, SLOW_READER_MS } from './event-writer.js'
import { createHeartbeats } from './heartbeats.js'

/** A comment line this often keeps proxies and load balancers from closing a quiet stream. */
export const HEARTBEAT_MS = 15_000
/** The comment a heartbeat is. */
const HEARTBEAT = ': heartbeat\n\n'
/** How long a client waits before reconnecting after the stream ends or breaks (the SSE `retry` field). */
export const RETRY_MS = 2000

/**
 * @see https://github.com/fastify/sse
 * The package's default export is its fastify-plugin wrapped function (its typings call it the
 * module itself); wrapped, it decorates the routes of the scope it is registered in.
 */
const fastifySse = fastifySseModule as unknown as FastifyPluginAsync<SSEPluginOptions>

/** Why a stream ended: a terminal order or final problem was sent, it lasted EVENTS_MAX_DURATION_MS, the service is shutting down, the client left, or it stopped reading. */
type Ending = 'final' | 'duration' | 'shutdown' | 'client' | 'slow'

export interface OrderEventsOptions {
  events: Config['events']
  /** EVENTS_MAX_STREAMS and EVENTS_MAX_PER_CLIENT: the slots a stream holds while open, shared with the long polls */
  slots: StreamSlots
  metrics?: Metrics | undefined
  /** the timers that end a stream after EVENTS_MAX_DURATION_MS and a slow reader's after SLOW_READER_MS (default: the system's) */
  clock?: Pick<Clock, 'setTimer' | 'clearTimer'> | undefined
}

/**
 * The stream as validators read it: one text body. Its events are named in words, since an
 * OpenAPI 3.1 schema of text/event-stream describes the whole body, and a union of event
 * objects there made Prism's validating proxy answer 500 on every real stream.
 */
const EventStreamSchema = z.string().meta({
  description: [
    'Server-Sent Events (`event`, `id`, `data` lines; `data` is one line of JSON). A `retry` hint comes first, and a `: heartbeat` comment every 15 s. Two kinds of event:',
    '',
    '- `event: order`, `data` an `Order` (#/components/schemas/Order), `id` the order\'s ETag (send it back as Last-Event-ID when reconnecting): the order on connect (unless Last-Event-ID is its ETag) and on every change. The stream ends after the one whose order is `terminal`.',
    '- `event: problem`, `data` a `Problem` (#/components/schemas/Problem), `id` `problem:` and its code (e.g. `problem:ORDER_NOT_FOUND`): the order or machine is gone (ORDER_NOT_FOUND, MACHINE_NOT_FOUND) or the order expired (ORDER_EXPIRED). The last event of the stream.',
    '',
    'A reconnect whose Last-Event-ID is a terminal order\'s ETag or a problem\'s id is answered 204.'
  ].join('\n'),
  // what the stream of the documented order 54 begins with
  example: `retry: ${RETRY_MS}\n\n${orderFrame(OrderSchema.parse(ORDER_EXAMPLE)).toString()}`
})

/**
 * GET /orders/:id/events: the order as Server-Sent Events, from the shared pollers. Whatever
 * goes wrong before the stream opens (no such order, the vendor is down with nothing kept) is an
 * ordinary problem answer with its status, so clients see the same statuses and Retry-After as
 * the order route; once open, only a final problem is sent, and the poller rides out the rest.
 */
export const orderEventsRoute: FastifyPluginAsyncZod<OrderEventsOptions> = async (app, { events, slots, metrics, clock = systemClock }) => {
  // no interval per stream: one timer beats every stream of this process (heartbeats.ts)
  await app.register(fastifySse, { heartbeatInterval: 0 })
  const heartbeats = createHeartbeats({ intervalMs: HEARTBEAT_MS, clock })

  app.get('/orders/:id/events', {
    // no Accept negotiation: this route only streams (an EventSource sends text/event-stream, curl */*)
    sse: { kind: 'manual', serializer: (data: string) => data },
    // a HEAD would open a stream whose body is thrown away: no HEAD (405 with Allow: GET)
    exposeHeadRoute: false,
    schema: {
      tags: ['orders'],
      operationId: 'getOrderEvents',
      summary: 'Follow one order as it changes',
      description: 'The order as Server-Sent Events: an `order` event now and on every change, until the order is `terminal`. One vendor poll per order however many clients follow it. Reconnect with `Last-Event-ID` (EventSource does) to skip an order you already have; a reconnect whose `Last-Event-ID` is the id of the stream\'s last event (the terminal order\'s ETag, or the final problem\'s `problem:CODE`) is answered 204, which stops an EventSource. A stream is closed after EVENTS_MAX_DURATION_MS, and at shutdown: reconnect. A client that stops reading is sent only the newest event once it reads again, and its stream is closed after 30 s without reading.',
      params: OrderParamsSchema,
      querystring: OrderQuerySchema,
      security: [{ bearerAuth: [] }],
      response: {
        200: { description: 'The event stream (text/event-stream).', content: { 'text/event-stream': { schema: EventStreamSchema } } },
        204: z.null().meta({ description: 'The stream had ended: `Last-Event-ID` is the terminal order\'s ETag or the final problem\'s id, and nothing can follow it. An EventSource stops reconnecting on it.' }),
        ...ORDER_PROBLEMS,
        405: problem('A method other than GET (METHOD_NOT_ALLOWED); Allow lists the ones this path answers.'),
        429: problem('Too many requests from this API key, or from this client address when keys are off (RATE_LIMITED), or too many streams and long polls open for it (EVENTS_MAX_PER_CLIENT, across the replicas when they share Redis); see Retry-After.'),
        503: problem('The machine is offline (MACHINE_OFFLINE), every vendor-call slot stayed taken (UPSTREAM_BUSY), VENDOR_MAX_CALLS_PER_SECOND had no call left in time (UPSTREAM_BUDGET_SPENT), this service is shedding load or has EVENTS_MAX_STREAMS streams and long polls open (UNAVAILABLE); see Retry-After.')
      }
    }
  }, async (request, reply) => {
    // one round trip to Redis when it is shared, none per event
    const release = await slots.take(clientKey(request))
    try {
      const lastEventId = request.headers['last-event-id']
      let outcome: Outcome | undefined
      try {
        ({ outcome } = await app.orders.getOrder(request.params.id, request.query.machine, request.log))
      } catch (error) {
        // a final problem the cache did not keep: a reconnect that was sent it is over all the same
        if (isAppError(error) && ERROR_KINDS[error.code].final && lastEventId === `problem:${error.code}`) return await reply.code(204).send(null)
        // VENDOR_MAX_CALLS_PER_SECOND had no call left in time: the stream opens all the same and its
        // first event comes from the poller, in the budget's line (an EventSource gives up on a 503)
        if (!isAppError(error) || error.code !== 'UPSTREAM_BUDGET_SPENT') throw error
      }
      // the client already had the stream's last event: 204 stops an EventSource reconnecting
      if (outcome !== undefined && isFinal(outcome) && lastEventId === outcomeTag(outcome)) return await reply.code(204).send(null)
      if (outcome?.kind === 'error') throw outcome.error
      metrics?.eventStreams.inc()
      try {
        const ending = await follow(reply, { id: request.params.id, machine: request.query.machine, requestId: String(request.id) }, outcome)
        // at shutdown the connection goes too, once the stream's end is sent: the server is waiting for it to close
        if (ending === 'shutdown') reply.raw.once('finish', () => { request.raw.socket.end() })
      } finally {
        metrics?.eventStreams.dec()
      }
    } finally {
      release()
    }
  })

  /** Streams the order from `first` on (from the poller's first answer when there is none yet); resolves, with why, when the stream is over. */
  function follow (reply: FastifyReply, { id, machine, requestId }: { id: number, machine: string, requestId: string }, first: Outcome | undefined): Promise<Ending> {
    const { sse } = reply
    return new Promise((resolve) => {
      let over = false
      let unwatch = () => {}
      let unbeat = () => {}
      const end = (ending: Ending) => {
        if (over) return
        over = true
        clock.clearTimer(closeAt)
        unwatch()
        unbeat()
        // at shutdown or after EVENTS_MAX_DURATION_MS the pending frame goes out before the response ends (a final one has ended it already)
        if (ending !== 'client' && ending !== 'slow') writer.flush()
        resolve(ending)
      }
      const closeAt = clock.setTimer(() => { end('duration') }, events.maxDurationMs)
      sse.onClose(() => { end('client') })
      const writer = createEventWriter(reply.raw, {
        clock,
        stallMs: SLOW_READER_MS,
        onStalled: () => { metrics?.slowReadersClosed.inc(); end('slow') },
        onWritten: (event) => { metrics?.eventsSent.inc({ event }) }
      })

      const send = (outcome: Outcome) => {
        if (over) return
        // an order's frame is built once per change and shared by every stream; a problem carries this request's id
        const [frame, label] = outcome.kind === 'order'
          ? [orderFrame(outcome.order), 'order']
          : [formatFrame({ event: 'problem', id: outcomeTag(outcome), data: JSON.stringify(toProblem(outcome.error, requestId)) }), 'problem']
        if (!isFinal(outcome)) return writer.write(frame, label)
        // the last frame and the end of the body in one call: one write per stream at the final change
        writer.end(frame, label)
        end('final')
      }

      sse.sendHeaders()
      reply.raw.write(`retry: ${RETRY_MS}\n\n`)
      unbeat = heartbeats.add(() => writer.writeIfIdle(HEARTBEAT))
      const tag = first === undefined ? sse.lastEventId ?? undefined : outcomeTag(first)
      // a reconnecting client that already has this order gets only what follows it
      if (first !== undefined) {
        if (sse.lastEventId !== tag) send(first)
        else if (isFinal(first)) end('final')
      }
      if (over) return
      unwatch = app.watchers.watch(id, machine, (watched) => {
        if (watched.type === 'closed') end('shutdown')
        else send(watched.outcome)
      }, tag)
    })
  }
}
