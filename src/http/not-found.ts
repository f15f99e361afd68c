import type { FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../errors/catalogue.js'
import { sendProblem } from './problem.js'

/**
 * The answer when no route matched this method and path: 405 with Allow when the path has
 * routes for other methods, else 404. Fastify's router is asked, so routes added later count.
 * OPTIONS stays a 404: a preflight is CORS' to answer (a refused one with 403); any other OPTIONS has no route.
 */
export function answerNoRoute (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0] ?? '/'
  const allowed = request.method === 'OPTIONS' ? [] : methodsFor(request, path)
  if (allowed.length > 0) {
    reply.header('allow', allowed.join(', '))
    return sendProblem(reply, new AppError('METHOD_NOT_ALLOWED', { detail: `${request.method} is not allowed on ${path}; use ${allowed.join(' or ')}.` }))
  }
  return answerNotFound(request, reply)
}

/** The 404 of a path no route answers; also what a route answers that must look like one (a wrong callback token). */
export function answerNotFound (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0] ?? '/'
  return sendProblem(reply, new AppError('NOT_FOUND', { detail: `No route for ${request.method} ${path}.` }))
}

/** The methods with a route for this path; OPTIONS left out, since CORS answers it on every path. */
function methodsFor (request: FastifyRequest, path: string): string[] {
  const app = request.server
  return app.supportedMethods.filter((method) => method !== 'OPTIONS' && app.findRoute({ method: method as 'GET', url: path }) !== null)
}
