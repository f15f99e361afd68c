import type { Attributes } from '@opentelemetry/api'
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

// What a request's span and log lines carry when tracing is on; the tracing plugin registers them.

/** Path parameters that are credentials: the delivery callback's `/callbacks/delivery/:token`. */
const SECRET_PATH_PARAMETERS = new Set(['token'])

/**
 * The request path for `url.path`: never the query (its values may be credentials), and a secret
 * path parameter replaced, by the route pattern's segments; the pattern itself when they do not line up.
 */
export function tracedPath (url: string, route: string | undefined): string {
  const query = url.indexOf('?')
  const path = query === -1 ? url : url.slice(0, query)
  if (route === undefined) return path
  const secret = secretSegments(route)
  if (secret === undefined) return path
  const segments = path.split('/')
  if (segments.length !== secret.length) return route
  return segments.map((segment, index) => secret[index] === true ? 'REDACTED' : segment).join('/')
}

/** route pattern → which of its segments are secret, undefined when none is; a route's answer is kept, there are few routes */
const secretsByRoute = new Map<string, boolean[] | undefined>()
function secretSegments (route: string): boolean[] | undefined {
  if (secretsByRoute.has(route)) return secretsByRoute.get(route)
  const secret = route.split('/').map((segment) => segment.startsWith(':') && SECRET_PATH_PARAMETERS.has(segment.slice(1)))
  const kept = secret.includes(true) ? secret : undefined
  if (secretsByRoute.size < 1000) secretsByRoute.set(route, kept)
  return kept
}

/**
 * The request span's name and attributes, as the HTTP server semantic conventions have them: the
 * method and route pattern as the name, a url.path without query or secret. Asked only for a
 * request that is sampled.
 */
export function requestSpanStart (request: FastifyRequest): { name: string, attributes: Attributes } {
  const route = request.is404 ? undefined : request.routeOptions.url
  const attributes: Attributes = { 'http.request.method': request.method, 'url.path': tracedPath(request.url, route) }
  if (route === undefined) return { name: request.method, attributes }
  attributes['http.route'] = route
  return { name: `${request.method} ${route}`, attributes }
}

const kIncomingPending = Symbol('incoming request line not written yet')
type Pending = FastifyRequest & { [kIncomingPending]?: boolean }

/**
 * Fastify writes "incoming request" at routing, before any hook, so before the request span
 * exists. This controller holds that line back until the tracing plugin's onRequest hook has
 * bound the trace id to the request's logger, or until the request completes without reaching
 * any hook (framework errors), so no line of a traced request goes out without its trace id.
 */
export class TracedLogController extends LogController {
  override incomingRequest (request: FastifyRequest, _reply: FastifyReply): void {
    (request as Pending)[kIncomingPending] = true
  }

  /** writes the line held back, once */
  incomingRequestNow (request: FastifyRequest, reply: FastifyReply): void {
    if ((request as Pending)[kIncomingPending] !== true) return
    (request as Pending)[kIncomingPending] = false
    super.incomingRequest(request, reply)
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    this.incomingRequestNow(request, reply)
    super.requestCompleted(error, request, reply)
  }
}
