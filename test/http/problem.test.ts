import fastify, { type FastifyError } from 'fastify'
import { validatorCompiler } from 'fastify-type-provider-zod'
import t, { type Test } from 'tap'
import { z } from 'zod'
import { AppError } from '../../src/errors/catalogue.js'
import { asAppError, PROBLEM_CONTENT_TYPE, ProblemSchema, problemType, sendProblem, toProblem } from '../../src/http/problem.js'

t.test('a problem type is a URN named after the code', async (t) => {
  t.equal(problemType('ORDER_NOT_FOUND'), 'urn:vending-orders:problem:order-not-found')
  t.equal(problemType('INTERNAL'), 'urn:vending-orders:problem:internal')
})

t.test('toProblem: the RFC 9457 members, vendorCode and errors only when the error has them', async (t) => {
  const plain = toProblem(new AppError('ORDER_NOT_FOUND', { detail: 'No such order.' }), 'req-1')
  t.same(plain, { type: 'urn:vending-orders:problem:order-not-found', title: 'Order not found', status: 404, detail: 'No such order.', code: 'ORDER_NOT_FOUND', requestId: 'req-1' })
  t.notOk('vendorCode' in plain || 'errors' in plain, 'no undefined members')
  const errors = [{ in: 'querystring', field: 'machine', message: 'is required' }]
  const full = toProblem(new AppError('INVALID_REQUEST', { detail: 'Invalid machine.', vendorCode: 80002, errors }), 'req-2')
  t.match(full, { vendorCode: 80002, errors })
  t.ok(ProblemSchema.safeParse(full).success, 'matches the documented schema')
})

/** An app whose only route throws `error`, answered as the problems plugin answers errors. */
async function appThrowing (t: Test, error: () => Error) {
  const app = fastify()
  app.setValidatorCompiler(validatorCompiler)
  app.setErrorHandler((caught, request, reply) => sendProblem(reply, asAppError(caught as FastifyError, request)))
  app.get('/fail', async () => { throw error() })
  app.get('/orders/:id', {
    schema: {
      params: z.object({ id: z.string().regex(/^\d+$/) }),
      querystring: z.object({ machine: z.string().regex(/^\d{8}$/), wait: z.coerce.number().int().optional() }),
      headers: z.object({ 'x-tenant': z.string().min(3) })
    }
  }, async () => ({ ok: true }))
  t.teardown(() => app.close())
  return app
}

t.test('sendProblem: the status, problem+json, the request id, and Retry-After when the error has one', async (t) => {
  const app = await appThrowing(t, () => new AppError('UNAVAILABLE', { detail: 'Shedding load.' }))
  const res = await app.inject({ url: '/fail' })
  t.equal(res.statusCode, 503)
  t.match(res.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.equal(res.headers['retry-after'], String(new AppError('UNAVAILABLE', { detail: '' }).retryAfter))
  t.match(res.json(), { code: 'UNAVAILABLE', detail: 'Shedding load.', requestId: 'req-1' })
  const notFound = await (await appThrowing(t, () => new AppError('ORDER_NOT_FOUND', { detail: 'No.' }))).inject({ url: '/fail' })
  t.equal(notFound.headers['retry-after'], undefined, 'no Retry-After for an error without one')
})

t.test('asAppError: an AppError as it is; a Fastify 4xx keeps its status and title; anything else is INTERNAL without its message', async (t) => {
  const own = new AppError('ORDER_EXPIRED', { detail: 'Expired.' })
  t.equal(asAppError(own, {} as never), own)
  const tooLarge = Object.assign(new Error('Request body is too large'), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' }) as FastifyError
  t.match(asAppError(tooLarge, {} as never), { code: 'INVALID_REQUEST', status: 413, title: 'Payload Too Large', detail: 'Request body is too large', cause: tooLarge })
  const bug = new TypeError('secret internals')
  const internal = asAppError(bug, {} as never)
  t.match(internal, { code: 'INTERNAL', status: 500, cause: bug })
  t.notMatch(internal.detail, 'secret internals', 'an unexpected error\'s message is not answered')
  const server = Object.assign(new Error('upstream socket closed'), { statusCode: 502 }) as FastifyError
  t.equal(asAppError(server, {} as never).code, 'INTERNAL', 'a 5xx from elsewhere is ours to hide')
})

t.test('a validation failure lists every failing field of every part, not only the first part Fastify stopped at', async (t) => {
  const app = await appThrowing(t, () => new Error('unused'))
  const res = await app.inject({ url: '/orders/x1?wait=soon' })
  t.equal(res.statusCode, 400)
  const body = res.json()
  t.equal(body.code, 'INVALID_REQUEST')
  t.same(body.errors.map((e: { in: string, field: string }) => `${e.in}:${e.field}`), ['params:id', 'querystring:machine', 'querystring:wait', 'headers:x-tenant'])
  t.equal(body.errors.find((e: { field: string }) => e.field === 'machine').message, 'is required')
  t.equal(body.errors.find((e: { field: string }) => e.field === 'x-tenant').message, 'is required')
  t.equal(body.detail, 'Invalid id, machine, wait, x-tenant.')
})

t.test('a repeated query parameter is named as such, once per field; the parts that passed are not listed', async (t) => {
  const app = await appThrowing(t, () => new Error('unused'))
  const res = await app.inject({ url: '/orders/54?machine=16327129&machine=16327130', headers: { 'x-tenant': 'acme' } })
  t.equal(res.statusCode, 400)
  t.same(res.json().errors, [{ in: 'querystring', field: 'machine', message: 'given more than once; send it once' }])
  t.equal((await app.inject({ url: '/orders/54?machine=16327129', headers: { 'x-tenant': 'acme' } })).statusCode, 200)
})
