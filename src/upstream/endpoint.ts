import type { Attributes } from '@opentelemetry/api'
import type { Params } from './signing.js'

/**
 * One vendor operation as data: where it is sent, what its signed payload carries, how the
 * data of its answer is read, and what its call's log lines and span say about it. Signing,
 * transport, observation and resilience treat every endpoint alike.
 */
export interface VendorEndpoint<P, R> {
  /** the request path, after the base URL's path prefix */
  path: (params: P) => string
  /** the parameters signed into the payload; the client adds the timestamp every payload carries */
  payload: (params: P) => Params
  /** sending it twice is harmless (a query): only such calls are retried */
  idempotent: boolean
  /** the result out of the `data` of a success answer of HTTP `status`; anything else is thrown as an AppError carrying `status` */
  parse: (data: unknown, params: P, status: number) => R
  /** what the call's log lines say about it, next to the call's own fields under `vendor` */
  logFields: (params: P) => Record<string, unknown>
  /** what the call's span says about it, next to the HTTP client attributes */
  spanAttributes: (params: P) => Attributes
}
