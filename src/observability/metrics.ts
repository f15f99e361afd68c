import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { CALL_PRIORITIES } from '../upstream/call-budget.js'
import { REDIS_COMMANDS, type RedisCommand } from '../shared-state/redis/latency.js'
import { REJECTION_REASONS, type RejectionReason } from '../shared-state/redis/rejections.js'
import type { VendorCallHooks } from '../upstream/observed-call.js'
import type { ResilienceEvents } from '../upstream/resilient.js'

/** Breaker states as the vendor_breaker_state gauge reports them. */
export const BREAKER_STATE = { closed: 0, halfOpen: 1, open: 2 } as const

/** How a served order was got, and from which tier (see orders/read-through.ts): the pairs that can happen. */
export const CACHE_EVENTS = [
  ['hit', 'memory'], ['hit', 'redis'], ['stale', 'memory'], ['stale', 'redis'],
  ['miss', 'vendor'], ['coalesced', 'vendor'], ['coalesced', 'redis'], ['bypass', 'vendor']
] as const

/** The route label of answers no route gave: unknown paths, and URLs Fastify could not route. */
export const UNMATCHED_ROUTE = 'unmatched'

/** The statuses http_parser_refusals_total counts (see http/framework-errors.ts). */
const PARSER_REFUSAL_STATUSES = ['400', '408', '413', '431'] as const

/** Distinct vendor codes labelled by value; later new ones count as `other`, so a vendor cannot blow up the series count. */
const MAX_VENDOR_CODE_LABELS = 50

export interface Metrics {
  /** a registry of its own (not prom-client's global one), so every app and test has its own */
  registry: Registry
  httpDuration: Histogram<'route' | 'method' | 'status'>
  vendorDuration: Histogram<'outcome'>
  vendorCodes: Counter<'code'>
  vendorRetries: Counter
  vendorCallsDeferred: Counter<'priority'>
  vendorCallsRefused: Counter<'priority'>
  breakerState: Gauge
  cacheEvents: Counter<'result' | 'tier'>
  redisUp: Gauge
  redisSlow: Gauge
  redisCommandDuration: Histogram<'command'>
  redisRejected: Counter<'reason'>
  vendorInFlight: Gauge
  parserRefusals: Counter<'status'>
  eventStreams: Gauge
  watchedOrders: Gauge
  watchedPollInterval: Histogram
  eventsSent: Counter<'event'>
  slowReadersClosed: Counter
  deliveryCallbacks: Counter<'outcome'>
}

/** The events of GET /orders/{id}/events, as events_sent_total labels them. */
export const EVENT_NAMES = ['order', 'problem'] as const

/** What became of a delivery callback: accepted (a wake), refused (wrong or missing token), invalid (bad body). */
export const CALLBACK_OUTCOMES = ['accepted', 'refused', 'invalid'] as const

export interface MetricsOptions {
  /** Node process metrics (CPU, memory, event loop, GC); default true */
  defaultMetrics?: boolean
}

/** Every Prometheus series of the service; plugins/request-metrics.ts and the vendor hooks below feed them, metrics-server.ts serves them. */
export function createMetrics ({ defaultMetrics = true }: MetricsOptions = {}): Metrics {
  const registry = new Registry()
  if (defaultMetrics) collectDefaultMetrics({ register: registry })
  const registers = [registry]

  const metrics: Metrics = {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route pattern (`unmatched` for unknown routes), method and status.',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers
    }),
    vendorDuration: new Histogram({
      name: 'vendor_call_duration_seconds',
      help: 'Duration of one call to the vendor, by outcome (`ok` or the error code it was answered with).',
      labelNames: ['outcome'],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers
    }),
    vendorCodes: new Counter({
      name: 'vendor_codes_total',
      help: 'Codes in the vendor\'s answers (0 is success; `other` once many distinct codes were seen).',
      labelNames: ['code'],
      registers
    }),
    vendorRetries: new Counter({
      name: 'vendor_retries_total',
      help: 'Vendor calls made again after a failed attempt.',
      registers
    }),
    vendorCallsDeferred: new Counter({
      name: 'vendor_calls_deferred_total',
      help: 'Vendor calls put off because VENDOR_MAX_CALLS_PER_SECOND was spent, to be made later, by priority: background (a watcher\'s poll, which waits its turn again) or wake (a refresh after a delivery callback, tried again when the budget has a call).',
      labelNames: ['priority'],
      registers
    }),
    vendorCallsRefused: new Counter({
      name: 'vendor_calls_refused_total',
      help: 'Vendor calls not made because VENDOR_MAX_CALLS_PER_SECOND was spent, by priority: request (no call within its wait: 503 UPSTREAM_BUDGET_SPENT, or a stale order), or a retry of any priority (the failure before it is the answer).',
      labelNames: ['priority'],
      registers
    }),
    breakerState: new Gauge({
      name: 'vendor_breaker_state',
      help: 'Circuit breaker in front of the vendor: 0 closed, 1 half-open, 2 open.',
      registers
    }),
    cacheEvents: new Counter({
      name: 'order_cache_events_total',
      help: 'Orders served, by how: hit (cache), miss (a vendor call), coalesced (joined a vendor call in flight), stale (stale-if-error: the vendor failed) or bypass (cache off); and by tier: memory (this replica\'s cache), redis (the shared cache, or a call another replica made) or vendor (a call this replica made).',
      labelNames: ['result', 'tier'],
      registers
    }),
    redisUp: new Gauge({
      name: 'redis_up',
      help: 'The shared Redis: 1 reachable and answering, 0 not (each replica then answers from its own memory). Absent without Redis configured.',
      registers: []
    }),
    redisSlow: new Gauge({
      name: 'redis_slow',
      help: 'The shared Redis answers, but slower than REDIS_SLOW_MS: 1 while this replica stops waiting on it (redis_up is 0 then), else 0. Absent without REDIS_URL.',
      registers: []
    }),
    redisCommandDuration: new Histogram({
      name: 'redis_command_duration_seconds',
      help: 'Round trip of one command to the shared Redis, by command: get, set (outcomes), lease, release (coalescing), count (rate limit), take (the vendor call budget), slot_take, slot_renew, slot_release (event streams and long polls per client), publish, ping (the slow probe). Absent without REDIS_URL.',
      labelNames: ['command'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: []
    }),
    redisRejected: new Counter({
      name: 'redis_rejected_total',
      help: 'Values and messages read from the shared Redis and not taken, by reason: signature, schema, mismatch, future, expired, wrongtype, not_integer, ttl (docs/redis-trust.md). Absent without REDIS_URL.',
      labelNames: ['reason'],
      registers: []
    }),
    vendorInFlight: new Gauge({
      name: 'vendor_calls_in_flight',
      help: 'Vendor calls started and not yet finished.',
      registers
    }),
    parserRefusals: new Counter({
      name: 'http_parser_refusals_total',
      help: 'Requests Node\'s HTTP parser refused before any route saw them, by the status answered: 400 malformed or smuggling-shaped, 408 too slow, 413 and 431 too large. Not in http_request_duration_seconds: they never became requests.',
      labelNames: ['status'],
      registers
    }),
    eventStreams: new Gauge({
      name: 'event_streams_open',
      help: 'Open order event streams (GET /orders/{id}/events).',
      registers
    }),
    watchedOrders: new Gauge({
      name: 'watched_orders',
      help: 'Orders (order id and machine) polled for event streams and long polls: one poller each, however many watchers.',
      registers
    }),
    watchedPollInterval: new Histogram({
      name: 'watched_order_poll_interval_seconds',
      help: 'Time between two answered polls of one watched order: CACHE_FRESH_MS, stretched when VENDOR_MAX_CALLS_PER_SECOND cannot poll every watched order that often.',
      buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers
    }),
    eventsSent: new Counter({
      name: 'events_sent_total',
      help: 'Events sent on order event streams, by event name: order, problem.',
      labelNames: ['event'],
      registers
    }),
    slowReadersClosed: new Counter({
      name: 'events_slow_readers_closed_total',
      help: 'Order event streams closed because the client stopped reading: the socket did not drain for 30 s.',
      registers
    }),
    deliveryCallbacks: new Counter({
      name: 'delivery_callbacks_total',
      help: 'Vendor delivery callbacks received, by outcome: accepted (the order is asked for again), refused (wrong or missing token), invalid (malformed body).',
      labelNames: ['outcome'],
      registers
    })
  }
  // exposed from the start, so dashboards and alerts see 0 rather than no data
  for (const [result, tier] of CACHE_EVENTS) metrics.cacheEvents.inc({ result, tier }, 0)
  for (const status of PARSER_REFUSAL_STATUSES) metrics.parserRefusals.inc({ status }, 0)
  for (const event of EVENT_NAMES) metrics.eventsSent.inc({ event }, 0)
  for (const outcome of CALLBACK_OUTCOMES) metrics.deliveryCallbacks.inc({ outcome }, 0)
  for (const priority of CALL_PRIORITIES) {
    metrics.vendorCallsRefused.inc({ priority }, 0)
    if (priority !== 'request') metrics.vendorCallsDeferred.inc({ priority }, 0)
  }
  metrics.breakerState.set(BREAKER_STATE.closed)
  return metrics
}

/** Registers the Redis series (only where Redis is configured), every label at 0 so alerts see 0 rather than no data. */
export function registerRedisMetrics (metrics: Metrics): void {
  const { registry } = metrics
  registry.registerMetric(metrics.redisUp)
  registry.registerMetric(metrics.redisSlow)
  registry.registerMetric(metrics.redisCommandDuration)
  registry.registerMetric(metrics.redisRejected)
  metrics.redisUp.set(0)
  metrics.redisSlow.set(0)
  for (const reason of REJECTION_REASONS) metrics.redisRejected.inc({ reason }, 0)
  for (const command of REDIS_COMMANDS) metrics.redisCommandDuration.zero({ command })
}

/** The shared state's hooks, feeding the Redis series. */
export function redisHooks (metrics: Metrics) {
  return {
    onSharedState: (up: boolean) => { metrics.redisUp.set(up ? 1 : 0) },
    onSlow: (slow: boolean) => { metrics.redisSlow.set(slow ? 1 : 0) },
    onCommand: (command: RedisCommand, ms: number) => { metrics.redisCommandDuration.observe({ command }, ms / 1000) },
    onRejected: (reason: RejectionReason) => { metrics.redisRejected.inc({ reason }) }
  }
}

/** The resilience layer's events, feeding the retry and breaker series; none without metrics. */
export function resilienceEvents (metrics: Metrics | undefined): ResilienceEvents | undefined {
  if (metrics === undefined) return undefined
  return {
    onRetry: () => { metrics.vendorRetries.inc() },
    onDeferred: (priority) => { metrics.vendorCallsDeferred.inc({ priority }) },
    onRefused: (priority) => { metrics.vendorCallsRefused.inc({ priority }) },
    onBreakerState: (state) => { metrics.breakerState.set(BREAKER_STATE[state]) }
  }
}

/** The vendor client's hooks, feeding the vendor series. */
export function vendorCallHooks (metrics: Metrics): VendorCallHooks {
  const labelledCodes = new Set<string>()
  const codeLabel = (code: number): string => {
    const label = String(code)
    if (labelledCodes.has(label)) return label
    if (labelledCodes.size >= MAX_VENDOR_CODE_LABELS) return 'other'
    labelledCodes.add(label)
    return label
  }
  return {
    onStart: () => { metrics.vendorInFlight.inc() },
    onCall: ({ outcome, vendorCode, durationMs }) => {
      metrics.vendorInFlight.dec()
      metrics.vendorDuration.observe({ outcome }, durationMs / 1000)
      if (vendorCode !== undefined) metrics.vendorCodes.inc({ code: codeLabel(vendorCode) })
    }
  }
}
