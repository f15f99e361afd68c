import createFetchClient from 'openapi-fetch'
import type { components, paths } from './schema.js'

export type { components, paths } from './schema.js'
export type Order = components['schemas']['Order']
export type Problem = components['schemas']['Problem']
/** The stable, machine-readable error codes (a union generated from the OpenAPI document). */
export type ProblemCode = Problem['code']

export type OrderResult = { ok: true, order: Order, etag: string | null } | { ok: false, problem: Problem }

export interface ClientOptions {
  /** where the service is, e.g. `https://orders.example.com`; '' (the default) is the page's own origin */
  baseUrl?: string
  /** sent as `Authorization: Bearer <key>` when the deployment sets API_KEYS (EventSource cannot send it: watchOrder polls instead) */
  apiKey?: string
  /** a fetch to use instead of the global one */
  fetch?: typeof fetch
  /** how to wait between attempts and polls (tests pass one that records the delays); default: a timer */
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>
}

export interface RetryOptions {
  /** attempts in all, the first included (default 3) */
  attempts?: number
  /** a Retry-After longer than this is not waited for: the problem is returned (default 30 s) */
  maxDelayMs?: number
  /** the waits of one call add up to at most this; the next one that would pass it is not waited for (default 30 s) */
  maxTotalDelayMs?: number
}

export interface GetOrderOptions {
  signal?: AbortSignal
  /** retry a 429 or 503 after its Retry-After (true: the defaults of RetryOptions) */
  retry?: boolean | RetryOptions
}

export interface WatchOptions {
  signal?: AbortSignal
  /** every problem the service answers; 4xx problems (but 429) end the watch, others are retried */
  onProblem?: (problem: Problem) => void
  /** network failures (the watch goes on) */
  onError?: (error: unknown) => void
  /** plain polling: the least time between two requests (default 2000 ms; a longer Cache-Control max-age wins) */
  pollIntervalMs?: number
}

/** How a watch ended: the order became terminal, a problem the caller must act on, or the signal. */
export type WatchEnd =
  | { reason: 'terminal', order: Order }
  | { reason: 'problem', problem: Problem }
  | { reason: 'aborted' }

/** What the client needs of EventSource (the DOM's, where the platform has one). */
interface EventSourceLike {
  readonly readyState: number
  addEventListener (type: string, listener: (event: { data?: unknown }) => void): void
  close (): void
}
type EventSourceConstructor = new (url: string) => EventSourceLike

const CLOSED = 2
const LONG_POLL_WAIT_S = 25
const RETRIED_STATUSES = new Set([429, 503])

/** The order-status API: getOrder and watchOrder. Browsers and Node 20+. */
export function createOrdersClient (options: ClientOptions = {}) {
  const baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '')
  const wait = options.wait ?? sleep
  const api = createFetchClient<paths>({
    baseUrl,
    ...(options.fetch !== undefined && { fetch: options.fetch }),
    ...(options.apiKey !== undefined && { headers: { authorization: `Bearer ${options.apiKey}` } })
  })

  interface Answer { status: number, result: OrderResult | null, headers: Headers }

  /** One GET; `result` is null on a 304. */
  async function request (id: number | string, machine: string, init: { signal?: AbortSignal, etag?: string | null, prefer?: string }): Promise<Answer> {
    const { data, error, response } = await api.GET('/orders/{id}', {
      params: {
        path: { id: String(id) },
        query: { machine },
        ...(init.etag != null && { header: { 'if-none-match': init.etag } })
      },
      ...(init.prefer !== undefined && { headers: { prefer: init.prefer } }),
      ...(init.signal !== undefined && { signal: init.signal })
    })
    const { status, headers } = response
    if (status === 304) return { status, result: null, headers }
    if (data !== undefined && response.ok) return { status, result: { ok: true, order: data, etag: headers.get('etag') }, headers }
    return { status, result: { ok: false, problem: asProblem(error, response) }, headers }
  }

  /** The order, or the problem the service answered; with `retry`, a 429 or 503 is asked again after its Retry-After. */
  async function getOrder (id: number | string, machine: string, { signal, retry = false }: GetOrderOptions = {}): Promise<OrderResult> {
    const { attempts = 3, maxDelayMs = 30_000, maxTotalDelayMs = 30_000 } = retry === true ? {} : retry === false ? { attempts: 1 } : retry
    // bounded in total, so a caller's own timeout (say 60 s) ends with the problem rather than an abort
    let waitedMs = 0
    for (let attempt = 1; ; attempt++) {
      const { status, result, headers } = await request(id, machine, { signal })
      if (result === null) throw new Error('unexpected 304 to a request without If-None-Match')
      if (result.ok || attempt >= attempts || !RETRIED_STATUSES.has(status)) return result
      const delayMs = retryAfterMs(headers.get('retry-after')) ?? 1000 * attempt
      if (delayMs > maxDelayMs || waitedMs + delayMs > maxTotalDelayMs) return result
      waitedMs += delayMs
      await wait(delayMs, signal)
    }
  }

  /**
   * Follows an order until it is terminal: the events stream where EventSource exists, else long
   * polling, or plain polling when the server offers neither. `onUpdate` gets each new state.
   */
  async function watchOrder (id: number | string, machine: string, onUpdate: (order: Order) => void, watch: WatchOptions = {}): Promise<WatchEnd> {
    const EventSourceImpl = (globalThis as { EventSource?: EventSourceConstructor }).EventSource
    if (EventSourceImpl !== undefined && options.apiKey === undefined) {
      const url = `${baseUrl}/orders/${encodeURIComponent(String(id))}/events?machine=${encodeURIComponent(machine)}`
      const end = await streamEvents(new EventSourceImpl(url), onUpdate, watch)
      if (end !== 'unavailable') return end
      // no stream here (an older server, a proxy): poll; cross-origin, a Prefer header would need a preflight the server may refuse
      return await poll(id, machine, onUpdate, watch, false)
    }
    return await poll(id, machine, onUpdate, watch, true)
  }

  /** Long polling (If-None-Match + Prefer: wait), which degrades to plain polling on each answer without Preference-Applied. */
  async function poll (id: number | string, machine: string, onUpdate: (order: Order) => void, watch: WatchOptions, longPoll: boolean): Promise<WatchEnd> {
    const { signal, pollIntervalMs = 2000 } = watch
    let etag: string | null = null
    for (;;) {
      if (isAborted(signal)) return { reason: 'aborted' }
      let delayMs = pollIntervalMs
      try {
        const askedToWait = longPoll && etag !== null
        const { status, result, headers } = await request(id, machine, { signal, etag, ...(askedToWait && { prefer: `wait=${LONG_POLL_WAIT_S}` }) })
        if (result?.ok === true) {
          etag = result.etag
          onUpdate(result.order)
          if (result.order.terminal) return { reason: 'terminal', order: result.order }
          delayMs = Math.max(pollIntervalMs, Math.min(maxAgeMs(headers.get('cache-control')), 30_000))
        } else if (result?.ok === false) {
          watch.onProblem?.(result.problem)
          if (status < 500 && status !== 429) return { reason: 'problem', problem: result.problem }
          delayMs = Math.max(pollIntervalMs, retryAfterMs(headers.get('retry-after')) ?? 0)
        }
        // the server held the request until a change or its wait ran out: ask again at once; and the
        // first answer, which had nothing to wait on, is followed at once by a long poll
        if ((headers.has('preference-applied') || (longPoll && !askedToWait)) && (result === null || result.ok)) delayMs = 0
      } catch (error) {
        if (isAborted(signal)) return { reason: 'aborted' }
        watch.onError?.(error)
      }
      if (delayMs > 0) {
        try {
          await wait(delayMs, signal)
        } catch {
          return { reason: 'aborted' }
        }
      }
    }
  }

  return { getOrder, watchOrder }
}

export type OrdersClient = ReturnType<typeof createOrdersClient>

/** The events stream: `order` events until one is terminal, or a final `problem`; 'unavailable' when the stream closes for good. */
async function streamEvents (source: EventSourceLike, onUpdate: (order: Order) => void, { signal, onProblem, onError }: WatchOptions): Promise<WatchEnd | 'unavailable'> {
  return await new Promise((resolve) => {
    const finish = (end: WatchEnd | 'unavailable'): void => {
      source.close()
      signal?.removeEventListener('abort', aborted)
      resolve(end)
    }
    const aborted = (): void => finish({ reason: 'aborted' })
    if (signal?.aborted === true) return aborted()
    signal?.addEventListener('abort', aborted)
    let opened = false
    source.addEventListener('open', () => { opened = true })
    source.addEventListener('order', (event) => {
      const order = JSON.parse(String(event.data)) as Order
      onUpdate(order)
      if (order.terminal) finish({ reason: 'terminal', order })
    })
    source.addEventListener('problem', (event) => {
      const problem = JSON.parse(String(event.data)) as Problem
      onProblem?.(problem)
      finish({ reason: 'problem', problem })
    })
    // EventSource reconnects by itself after a dropped stream; CLOSED means it gave up (a 404, not an event stream)
    source.addEventListener('error', () => {
      if (source.readyState !== CLOSED) return
      if (opened) onError?.(new Error('the events stream closed'))
      finish('unavailable')
    })
  })
}

/** A problem+json body as sent, or one made up from the status when something else answered (a proxy, say). */
function asProblem (body: unknown, response: Response): Problem {
  if (typeof body === 'object' && body !== null && 'code' in body && 'title' in body) return body as Problem
  const { status } = response
  const code: ProblemCode = status === 429 ? 'RATE_LIMITED' : status === 503 ? 'UNAVAILABLE' : status === 404 ? 'NOT_FOUND' : 'INTERNAL'
  return {
    type: 'about:blank',
    title: response.statusText || `HTTP ${status}`,
    status,
    detail: `HTTP ${status} without a problem+json body`,
    code,
    requestId: response.headers.get('x-request-id') ?? ''
  }
}

/** Retry-After in ms: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs (value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

function maxAgeMs (cacheControl: string | null): number {
  const seconds = /(?:^|,)\s*max-age=(\d+)/.exec(cacheControl ?? '')?.[1]
  return seconds === undefined ? 0 : Number(seconds) * 1000
}

/** A function, so TypeScript does not keep a narrowing of `aborted` across awaits. */
const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true

/** A timer that the signal cancels (rejecting with its reason, as fetch does). */
async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
