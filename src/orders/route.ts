import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { ProblemSchema } from '../http/problem.js'
import { OrderParamsSchema, OrderQuerySchema, OrderSchema } from './schema.js'

const problem = (description: string) => ProblemSchema.meta({ description })

export const ordersRoute: FastifyPluginAsyncZod = async (app) => {
  app.get('/orders/:id', {
    schema: {
      tags: ['orders'],
      operationId: 'getOrder',
      summary: 'Status of one order',
      description: 'Payment status of the order and dispensing status of each of its lines, as the vendor reports them now. Poll until `terminal` is true.',
      params: OrderParamsSchema,
      querystring: OrderQuerySchema,
      security: [{ bearerAuth: [] }],
      response: {
        200: OrderSchema.meta({ description: 'The order.' }),
        400: problem('Malformed id or machine (INVALID_REQUEST); `errors` lists every failing field.'),
        401: problem('Missing or invalid API key (UNAUTHORIZED). Only when the deployment sets API_KEYS; see WWW-Authenticate.'),
        404: problem('No such order (ORDER_NOT_FOUND) or machine (MACHINE_NOT_FOUND) for this merchant.'),
        409: problem('The order (ORDER_STATE_INVALID) or the machine (MACHINE_NOT_OPERATING) is in a state that cannot be queried.'),
        410: problem('The order expired unpaid (ORDER_EXPIRED).'),
        429: problem('Too many requests from this API key, or from this client address when keys are off (RATE_LIMITED); see Retry-After.'),
        500: problem('Unexpected failure in this service (INTERNAL).'),
        502: problem('The vendor rejected our request (UPSTREAM_REJECTED), failed (UPSTREAM_ERROR), answered garbage (UPSTREAM_BAD_RESPONSE) or could not be reached (UPSTREAM_UNREACHABLE).'),
        503: problem('The machine is offline (MACHINE_OFFLINE) or this service is shedding load (UNAVAILABLE); see Retry-After.'),
        504: problem('The vendor did not answer in time (UPSTREAM_TIMEOUT).')
      }
    }
  }, async (request) => {
    return app.orders.getOrder(request.params.id, request.query.machine, request.log)
  })
}
