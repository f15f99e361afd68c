import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { AppError, ERROR_KINDS, isAppError, type FieldError } from '../errors/catalogue.js'

/** RFC 9457 problem details, as every error of this service is answered. */
export const ProblemSchema = z.object({
  type: z.string().meta({ description: 'URI naming the kind of problem.', example: 'urn:vending-orders:problem:order-not-found' }),
  title: z.string().meta({ example: 'Order not found' }),
  status: z.number().int().meta({ example: 404 }),
  detail: z.string().meta({ example: 'The vendor has no such order.' }),
  code: z.enum(Object.keys(ERROR_KINDS) as [keyof typeof ERROR_KINDS]).meta({ description: 'Stable machine-readable error code.', example: 'ORDER_NOT_FOUND' }),
  requestId: z.string().meta({ description: 'The request id, also sent as the x-request-id header.', example: 'c0a8e3d2-6f1b-4a0e-9a52-3f4d2b9f1e77' }),
  vendorCode: z.number().int().optional().meta({ description: 'The vendor\'s own error code, when the vendor gave one.', example: 80002 }),
  errors: z.array(z.object({
    in: z.string().meta({ example: 'querystring' }),
    field: z.string().meta({ example: 'machine' }),
    message: z.string().meta({ example: 'must be 8 to 20 digits (8 normally; longer for special merchants)' })
  })).optional().meta({ description: 'On 400: every failing field, with where it is and why.' })
}).meta({ id: 'Problem', description: 'RFC 9457 problem details.' })

export type Problem = z.infer<typeof ProblemSchema>

/** A problem response's schema with what it means on one route, for the document. */
export const problem = (description: string) => ProblemSchema.meta({ description })

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

export function problemType (code: string): string {
  return `urn:vending-orders:problem:${code.toLowerCase().replaceAll('_', '-')}`
}

export function toProblem (error: AppError, requestId: string): Problem {
  return {
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    detail: error.detail,
    code: error.code,
    requestId,
    ...(error.vendorCode === undefined ? {} : { vendorCode: error.vendorCode }),
    ...(error.errors === undefined ? {} : { errors: error.errors })
  }
}

export function sendProblem (reply: FastifyReply, error: AppError): FastifyReply {
  if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter))
  return reply.code(error.status).type(PROBLEM_CONTENT_TYPE).send(toProblem(error, String(reply.request.id)))
}

const PARTS = ['params', 'querystring', 'headers'] as const

/**
 * Fastify validates params, then querystring, then headers, and stops at the first failing
 * part; a caller deserves every failing field at once, so that part and the ones Fastify did
 * not reach are checked again (the parts before it passed, and now hold their parsed values).
 */
export function collectFieldErrors (request: FastifyRequest, failedPart: string | undefined): FieldError[] {
  const schema = request.routeOptions.schema ?? {}
  const input: Record<typeof PARTS[number], unknown> = { params: request.params, querystring: request.query, headers: request.headers }
  const from = Math.max(0, PARTS.indexOf(failedPart as typeof PARTS[number]))
  return PARTS.slice(from).flatMap((part) => {
    const partSchema = schema[part]
    if (!(partSchema instanceof z.ZodType)) return []
    // with the input in each issue, a missing field can be told from a repeated one
    const result = partSchema.safeParse(input[part] ?? {}, { reportInput: true })
    if (result.success) return []
    // one message per field: the first check it failed says enough
    const byField = new Map<string, FieldError>()
    for (const issue of result.error.issues) {
      const field = issue.path.join('.') || part
      if (byField.has(field)) continue
      byField.set(field, { in: part, field, message: fieldMessage(issue) })
    }
    return [...byField.values()]
  })
}

function fieldMessage (issue: z.core.$ZodIssue): string {
  if (issue.code !== 'invalid_type') return issue.message
  if (issue.input === undefined) return 'is required'
  // a repeated query parameter (or header) arrives as an array of its values
  if (Array.isArray(issue.input) && issue.expected !== 'array') return 'given more than once; send it once'
  return issue.message
}

/** Any error → an AppError; only AppErrors and Fastify's 4xx errors say what went wrong. */
export function asAppError (error: FastifyError | Error, request: FastifyRequest): AppError {
  if (isAppError(error)) return error
  const fastifyError = error as FastifyError
  if (fastifyError.validation !== undefined) {
    const errors = collectFieldErrors(request, fastifyError.validationContext)
    return new AppError('INVALID_REQUEST', {
      detail: `Invalid ${errors.map((e) => e.field).join(', ') || 'request'}.`,
      errors,
      cause: error
    })
  }
  const status = fastifyError.statusCode
  if (status !== undefined && status >= 400 && status < 500) {
    return new AppError('INVALID_REQUEST', { detail: error.message, status, title: STATUS_CODES[status], cause: error })
  }
  return new AppError('INTERNAL', { detail: 'Something went wrong on our side.', cause: error })
}
