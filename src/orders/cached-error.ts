import { AppError } from '../errors.js'
import type { Answer, CacheOutcome } from './cache.js'

/**
 * A cached error (no such order, expired...) as thrown to one request: the stored error, with
 * when it was stored and how this request got it, which its Cache-Status and Cache-Control say.
 */
export class CachedError extends AppError {
  constructor (readonly answer: Extract<Answer, { kind: 'error' }>, readonly outcome: CacheOutcome) {
    const { error } = answer
    super(error.code, {
      detail: error.detail,
      vendorCode: error.vendorCode,
      retryAfter: error.retryAfter,
      errors: error.errors,
      status: error.status,
      title: error.title,
      upstreamStatus: error.upstreamStatus,
      cause: error.cause
    })
  }
}
