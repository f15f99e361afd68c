import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { sameDigest, secretDigest } from '../http/constant-time.js'
import { answerNotFound } from '../http/not-found.js'
import { problem } from '../http/problem.js'
import type { Metrics } from '../observability/metrics.js'

/** A notification is a handful of short fields; anything bigger is not one. */
const CALLBACK_BODY_LIMIT = 4 * 1024

export interface CallbacksOptions {
  /** CALLBACK_TOKEN: the path secret the vendor's notify_url carries */
  token: string
  metrics?: Metrics | undefined
}

/** True when `presented` is the token; both hashed first, so the comparison takes the same time whatever their lengths. */
export function tokenMatcher (token: string): (presented: string) => boolean {
  const expected = secretDigest(token)
  return (presented) => sameDigest(secretDigest(presented), expected)
}

// the vendor sends numbers as JSON numbers, or as strings in a form
const VendorInt = z.union([z.number().int().positive().max(Number.MAX_SAFE_INTEGER), z.string().regex(/^[1-9]\d{0,15}$/).transform(Number)])
const Field = z.union([z.string().max(512), z.number()]).optional()

/** The vendor's device.delivery.response notification; only order_id is used (see docs/vendor-api.md). */
export const DeliveryNotificationSchema = z.object({
  method: Field,
  order_id: VendorInt.meta({ description: 'The vendor order id.', example: 2001 }),
  record_id: Field.meta({ description: 'The order line.' }),
  deliver_status: Field.meta({ description: '"1" dispensed, "0" failed.' }),
  floor_status: Field.meta({ description: 'The slot\'s state.' }),
  error_msg: Field.meta({ description: 'The machine\'s reason on failure.' })
}).meta({ description: 'The vendor\'s `device.delivery.response` notification, as JSON or form-encoded. Only `order_id` is read.' })

const TokenParamsSchema = z.object({
  token: z.string().meta({ description: 'The deployment\'s CALLBACK_TOKEN, as set in the vendor\'s notify_url.' })
})

/**
 * POST /callbacks/delivery/:token: the vendor says a line of an order was dispensed (or not).
 * The notification is not signed, so it is only a wake-up call: the watched (order, machine)
 * keys of that order id are asked of the vendor again at once, and what the vendor then says is
 * what watchers see. A wrong token, and any other method on the path, is the 404 of an unknown
 * route, answered before the body is read. Not behind API keys (the vendor has none) or the API's rate limit: refreshes are
 * bounded per order by the watchers, and the body by a small limit.
 */
export const callbacksRoute: FastifyPluginAsyncZod<CallbacksOptions> = async (app, options) => {
  await app.register(callbacks, { ...options, prefix: '/callbacks' })
}

/**
 * Under /callbacks, every answer that is not the route's is the plain 404 of an unknown path:
 * the app's 405 with `Allow: POST` would show that the route exists.
 */
const callbacks: FastifyPluginAsyncZod<CallbacksOptions> = async (app, { token, metrics }) => {
  app.setNotFoundHandler(answerNotFound)
  // Fastify's text/plain parser would hand the schema a string (a 400); only JSON and forms are notifications (415)
  app.removeContentTypeParser('text/plain')
  await app.register(formbody, { bodyLimit: CALLBACK_BODY_LIMIT })
  const isToken = tokenMatcher(token)

  app.post('/delivery/:token', {
    bodyLimit: CALLBACK_BODY_LIMIT,
    schema: {
      tags: ['callbacks'],
      operationId: 'deliveryCallback',
      summary: 'The vendor\'s delivery notification',
      description: 'Point the vendor\'s `notify_url` here. The notification is unsigned, so its content is never served: it makes this service ask the vendor for that order again at once, and watchers of the order see the vendor\'s answer. Exists only when CALLBACK_TOKEN is set.',
      params: TokenParamsSchema,
      body: DeliveryNotificationSchema,
      consumes: ['application/json', 'application/x-www-form-urlencoded'],
      // the vendor has no API key: the token in the path is the only credential
      security: [],
      response: {
        204: z.null().meta({ description: 'Received; the order is being asked for again.' }),
        400: problem('Not a delivery notification (INVALID_REQUEST); `errors` lists every failing field.'),
        404: problem('Wrong token: answered like a path that does not exist (NOT_FOUND).'),
        413: problem('The body is larger than 4 KiB (INVALID_REQUEST with status 413).'),
        415: problem('Neither JSON nor form-encoded (INVALID_REQUEST with status 415).')
      }
    },
    // before the body is read or checked, by the not-found handler of any other path here: a wrong token learns nothing more than an unknown path would
    onRequest: (request, reply, done) => {
      if (isToken((request.params as { token: string }).token)) return done()
      metrics?.deliveryCallbacks.inc({ outcome: 'refused' })
      reply.callNotFound()
    },
    // a body that is not a notification (malformed, too large, another type); the app's error handler answers it
    onError: (_request, _reply, _error, done) => {
      metrics?.deliveryCallbacks.inc({ outcome: 'invalid' })
      done()
    }
  }, async (request, reply) => {
    metrics?.deliveryCallbacks.inc({ outcome: 'accepted' })
    app.watchers.bus.publishWake(request.body.order_id)
    reply.code(204)
  })
}
