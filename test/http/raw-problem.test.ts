import t from 'tap'
import { AppError } from '../../src/errors/catalogue.js'
import { PROBLEM_CONTENT_TYPE, toProblem } from '../../src/http/problem.js'
import { rawProblemAnswer } from '../../src/http/raw-problem.js'

/** The answer's status line, headers and body, split as an HTTP/1.1 client would. */
function parse (answer: string) {
  const end = answer.indexOf('\r\n\r\n')
  const [statusLine = '', ...lines] = answer.slice(0, end).split('\r\n')
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]))
  return { statusLine, headers, names: lines.map((line) => line.slice(0, line.indexOf(':'))), body: answer.slice(end + 4) }
}

t.test('a whole HTTP/1.1 answer: status line, problem+json body of the exact length, the request id, connection closed', async (t) => {
  const problem = new AppError('INVALID_REQUEST', { status: 431, title: 'Request Header Fields Too Large', detail: 'The request headers are too large — trim them.' })
  const { statusLine, headers, body } = parse(rawProblemAnswer(problem, 'req-1'))
  t.equal(statusLine, 'HTTP/1.1 431 Request Header Fields Too Large')
  t.equal(headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.equal(headers['content-length'], String(Buffer.byteLength(body)), 'the length in bytes, not characters')
  t.not(Buffer.byteLength(body), body.length, 'the detail has a character of more than one byte')
  t.equal(headers['x-request-id'], 'req-1')
  t.equal(headers.connection, 'close')
  t.same(JSON.parse(body), toProblem(problem, 'req-1'))
  t.notOk('retry-after' in headers, 'no Retry-After for a problem without one')
})

t.test('a problem with a retry delay says it in Retry-After, before the request id', async (t) => {
  const problem = new AppError('UNAVAILABLE', { detail: 'Too many open connections; try again shortly.' })
  const { statusLine, headers, names } = parse(rawProblemAnswer(problem, 'req-2'))
  t.equal(statusLine, 'HTTP/1.1 503 Service Unavailable')
  t.equal(headers['retry-after'], String(problem.retryAfter))
  t.same(names, ['content-type', 'content-length', 'retry-after', 'x-request-id', 'connection'])
})
