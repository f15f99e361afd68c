import { randomUUID } from 'node:crypto'
import { STATUS_CODES, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions, onRequestHookHandler } from 'fastify'
import { AppError } from '../errors/catalogue.js'
import { UNMATCHED_ROUTE, type Metrics } from '../observability/metrics.js'
import { sendProblem } from './problem.js'
import { rawProblemAnswer } from './raw-problem.js'
import { genRequestId, REQUEST_ID_HEADER } from './request-id.js'

/**
 * What the problems plugin needs from fastify() itself: the request id, and the answers to
 * errors met before any hook or error handler (unroutable URLs, what Node's HTTP parser refuses).
 */
export function problemServerOptions (metrics?: Metrics): Pick<FastifyServerOptions, 'genReqId' | 'frameworkErrors' | 'clientErrorHandler'> {
  return { genReqId: genRequestId, frameworkErrors: answerFrameworkErrors(metrics), clientErrorHandler: answerClientErrors(metrics) }
}

type FrameworkErrorHandler = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void

/**
 * Errors Fastify meets before routing (a malformed percent-encoding, an over-long path
 * parameter) skip hooks and the error handler, and would be Fastify's own JSON echoing the URL;
 * they are answered as our problem+json like every other error, and timed, since the metrics
 * plugin's onResponse hook never sees them.
 */
export function answerFrameworkErrors (metrics?: Metrics): FrameworkErrorHandler {
  return (error, request, reply) => {
    if (metrics !== undefined) {
      const started = performance.now()
      reply.raw.once('finish', () => {
        const labels = { route: UNMATCHED_ROUTE, method: request.method, status: String(reply.statusCode) }
        metrics.httpDuration.observe(labels, (performance.now() - started) / 1000)
      })
    }
    reply.header(REQUEST_ID_HEADER, request.id)
    sendProblem(reply, frameworkProblem(error, request))
  }
}

function frameworkProblem (error: FastifyError, request: FastifyRequest): AppError {
  if (error.code === 'FST_ERR_BAD_URL') {
    return new AppError('INVALID_REQUEST', { detail: 'The URL is not valid: it has a malformed percent-encoding.' })
  }
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return new AppError('INVALID_REQUEST', { status: 414, title: 'URI Too Long', detail: 'A path segment of the URL is too long.' })
  }
  request.log.error({ err: error }, 'unexpected error before routing')
  return new AppError('INTERNAL', { detail: 'Something went wrong on our side.' })
}

/** What Node's HTTP parser refused, as the status Node itself would answer. */
const PARSER_REFUSALS: Record<string, { status: number, detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, detail: 'The request headers are too large.' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, detail: 'The chunk extensions of the request body are too large.' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, detail: 'The request was not received in time.' }
}
const MALFORMED = { status: 400, detail: 'The request is not valid HTTP/1.1 (a malformed line or header, or conflicting Content-Length and Transfer-Encoding).' }

/** The status a parser error is answered with; undefined for a connection the client reset, which gets no answer. */
export function parserRefusalStatus (error: ConnectionError): number | undefined {
  return error.code === 'ECONNRESET' ? undefined : (PARSER_REFUSALS[error.code] ?? MALFORMED).status
}

/**
 * Fastify's clientErrorHandler: requests Node's HTTP parser refuses (request-smuggling shapes,
 * bad header bytes, oversized headers, too slow) never become requests, so no hook, error
 * handler or request id sees them. They are answered as problem+json with an id of their own,
 * logged under it (never the raw bytes, which may hold credentials), and counted.
 */
export function answerClientErrors (metrics?: Metrics): (this: FastifyInstance, error: ConnectionError, socket: Socket) => void {
  return function (error, socket) {
    const status = parserRefusalStatus(error)
    if (status === undefined || socket.destroyed) return
    const refusal = PARSER_REFUSALS[error.code] ?? MALFORMED
    const requestId = randomUUID()
    metrics?.parserRefusals.inc({ status: String(status) })
    this.log.info({ requestId, code: error.code, reason: (error as { reason?: unknown }).reason }, 'request refused by the HTTP parser')
    if (socket.writable && !responseStarted(socket)) {
      socket.write(rawProblemAnswer(new AppError('INVALID_REQUEST', { status, title: STATUS_CODES[status], detail: refusal.detail }), requestId))
    }
    socket.destroy(error)
  }
}

/**
 * Whether an answer to an earlier request on this connection has started: then another status
 * line would corrupt it. Node's own clientError fallback checks the same private field.
 */
function responseStarted (socket: Socket): boolean {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage?.headersSent === true
}

/**
 * An onRequest hook doing what Node's requireHostHeader would (RFC 9112: an HTTP/1.1 request
 * without Host is a 400), which is turned off because Node answers it with an empty body.
 */
export const refuseMissingHost: onRequestHookHandler = (request, reply, done) => {
  if (request.raw.httpVersion !== '1.1' || request.headers.host !== undefined) return done()
  sendProblem(reply, new AppError('INVALID_REQUEST', { detail: 'An HTTP/1.1 request must have a Host header.' }))
}
