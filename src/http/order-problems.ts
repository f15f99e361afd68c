import { problem } from './problem.js'

/** The problems of asking for one order, shared by every route that does (the order, its events). */
export const ORDER_PROBLEMS = {
  400: problem('Malformed id or machine (INVALID_REQUEST); `errors` lists every failing field.'),
  401: problem('Missing or invalid API key (UNAUTHORIZED). Only when the deployment sets API_KEYS; see WWW-Authenticate.'),
  404: problem('No such order (ORDER_NOT_FOUND) or machine (MACHINE_NOT_FOUND) for this merchant. With the cache on it is kept for CACHE_NOT_FOUND_MS; Cache-Control and Cache-Status say how fresh it is.'),
  405: problem('A method other than GET or HEAD (METHOD_NOT_ALLOWED); Allow lists the ones this path answers.'),
  409: problem('The order (ORDER_STATE_INVALID) or the machine (MACHINE_NOT_OPERATING) is in a state that cannot be queried.'),
  410: problem('The order expired unpaid (ORDER_EXPIRED). With the cache on it is kept for CACHE_TERMINAL_MS; Cache-Control and Cache-Status say how fresh it is.'),
  429: problem('Too many requests from this API key, or from this client address when keys are off (RATE_LIMITED); see Retry-After.'),
  500: problem('Unexpected failure in this service (INTERNAL).'),
  502: problem('The vendor rejected our request (UPSTREAM_REJECTED), failed (UPSTREAM_ERROR), answered garbage (UPSTREAM_BAD_RESPONSE) or could not be reached (UPSTREAM_UNREACHABLE).'),
  503: problem('The machine is offline (MACHINE_OFFLINE), every vendor-call slot stayed taken (UPSTREAM_BUSY) or VENDOR_MAX_CALLS_PER_SECOND had no call left in time (UPSTREAM_BUDGET_SPENT) so the vendor was not called, or this service is shedding load (UNAVAILABLE); see Retry-After.'),
  504: problem('The vendor did not answer in time (UPSTREAM_TIMEOUT).')
}
