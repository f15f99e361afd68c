import type { FastifyError, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { refuseMissingHost } from '../http/framework-errors.js'
import { answerNoRoute } from '../http/not-found.js'
import { asAppError, sendProblem } from '../http/problem.js'
import { REQUEST_ID_HEADER } from '../http/request-id.js'

/**
 * Every error as RFC 9457 problem+json, every answer with x-request-id: the error handler, 404
 * and 405, an HTTP/1.1 request without Host. Registered before any route: a route keeps the
 * error handler in place when it is added.
 */
const problems: FastifyPluginAsync = async (app) => {
  // a callback hook: an async one costs a promise and a microtask hop on every request
  app.addHook('onRequest', (request, reply, done) => { reply.header(REQUEST_ID_HEADER, request.id); done() })
  app.addHook('onRequest', refuseMissingHost)

  app.setErrorHandler((error, request, reply) => {
    const appError = asAppError(error as FastifyError, request)
    // vendor outcomes were logged once per call by upstream/observed-call.ts; our own bugs are logged here
    if (appError.code === 'INTERNAL') request.log.error({ err: appError.cause ?? appError }, 'unexpected error')
    return sendProblem(reply, appError)
  })
  app.setNotFoundHandler(answerNoRoute)
}

export const problemsPlugin = fp(problems, { name: 'problems' })
