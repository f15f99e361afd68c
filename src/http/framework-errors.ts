import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../errors.js'
import { sendProblem } from './problem.js'
import { REQUEST_ID_HEADER } from './request-id.js'

/**
 * Errors Fastify meets before routing (a malformed percent-encoding, an over-long path
 * parameter) skip hooks and the error handler, and would be Fastify's own JSON echoing the URL;
 * they are answered as our problem+json like every other error.
 */
export function answerFrameworkError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header(REQUEST_ID_HEADER, request.id)
  if (error.code === 'FST_ERR_BAD_URL') {
    sendProblem(reply, new AppError('INVALID_REQUEST', { detail: 'The URL is not valid: it has a malformed percent-encoding.' }))
  } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    sendProblem(reply, new AppError('INVALID_REQUEST', { status: 414, title: 'URI Too Long', detail: 'A path segment of the URL is too long.' }))
  } else {
    request.log.error({ err: error }, 'unexpected error before routing')
    sendProblem(reply, new AppError('INTERNAL', { detail: 'Something went wrong on our side.' }))
  }
}
