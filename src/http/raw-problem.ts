import { STATUS_CODES } from 'node:http'
import type { AppError } from '../errors/catalogue.js'
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.js'
import { REQUEST_ID_HEADER } from './request-id.js'

/**
 * A problem as a whole HTTP/1.1 answer, for a socket no HTTP response owns (a connection refused
 * before Node's server takes it, a request its parser refused). It closes the connection: after
 * such a refusal nothing more on it is read.
 */
export function rawProblemAnswer (problem: AppError, requestId: string): string {
  const body = JSON.stringify(toProblem(problem, requestId))
  return [
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}`,
    `content-type: ${PROBLEM_CONTENT_TYPE}`,
    `content-length: ${Buffer.byteLength(body)}`,
    ...problem.retryAfter === undefined ? [] : [`retry-after: ${problem.retryAfter}`],
    `${REQUEST_ID_HEADER}: ${requestId}`,
    'connection: close',
    '',
    body
  ].join('\r\n')
}
