import { context, propagation, trace, type Tracer } from '@opentelemetry/api'
import { AsyncLocalStorage } from 'node:async_hooks'
import { createRequestSampler, type RequestSampler, type SamplerSettings } from './sampling.js'
import { setContextHolds } from './trace-context.js'
import { pooledIdGenerator } from './trace-ids.js'

/** What the service gets when tracing is on: spans go to `tracer`, `sample` decides which requests have any. */
export interface Tracing {
  tracer: Tracer
  /** whether a request is traced (src/plugins/tracing.ts asks once, when it arrives) */
  sample: RequestSampler
  /** work run in a trace's async context holds it on until done (a request with asyncContext, until its handler has started or it ends): the returned function lets go (once) */
  holdContext: () => () => void
  /**
   * Exports what is left, for at most the flush bound, stops exporting and unregisters from the
   * OpenTelemetry API; `flushed` is false when the exporter had not finished by then (what was
   * left is dropped: a hanging collector must not hold the process's exit).
   */
  shutdown: () => Promise<{ flushed: boolean }>
}

/** How long shutdown waits for the last spans to be exported. */
export const SHUTDOWN_FLUSH_MS = 2_000

export type TraceExporterName = 'otlp' | 'console'
export type OtlpProtocol = 'http/protobuf' | 'http/json'

export interface TracingSettings {
  exporters: TraceExporterName[]
  /** the OTLP traces URL and encoding (when `otlp` is an exporter) */
  otlp: { url: string, protocol: OtlpProtocol }
}

const EXPORTERS = new Set<string>(['otlp', 'console', 'none'])
const PROTOCOLS = new Set<string>(['http/protobuf', 'http/json'])
const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318'

/**
 * The standard OTEL_* variables → what to export, or undefined: tracing off. Off unless
 * OTEL_TRACES_EXPORTER or an OTLP endpoint is set, as the OpenTelemetry SDK configuration spec
 * names them; what cannot be honoured is a warning (the spec's rule for these variables), never a refusal.
 */
export function tracingSettings (env: Record<string, string | undefined>): { settings: TracingSettings | undefined, warnings: string[] } {
  const warnings: string[] = []
  const value = (name: string): string | undefined => {
    const raw = env[name]?.trim()
    return raw === undefined || raw === '' ? undefined : raw
  }
  if (value('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return { settings: undefined, warnings }

  const tracesEndpoint = value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')
  const endpoint = value('OTEL_EXPORTER_OTLP_ENDPOINT')
  const named = value('OTEL_TRACES_EXPORTER')?.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '')
  let exporters: TraceExporterName[]
  if (named === undefined) {
    exporters = tracesEndpoint !== undefined || endpoint !== undefined ? ['otlp'] : []
  } else {
    const unknown = named.filter((name) => !EXPORTERS.has(name))
    if (unknown.length > 0) warnings.push(`OTEL_TRACES_EXPORTER names exporters this service does not have (${unknown.join(', ')}); it has otlp, console and none`)
    exporters = named.includes('none') ? [] : [...new Set(named.filter((name): name is TraceExporterName => name === 'otlp' || name === 'console'))]
  }

  // the signal's own endpoint is the whole URL; the generic one is a base the signal's path is added to
  const url = tracesEndpoint ?? `${(endpoint ?? DEFAULT_OTLP_ENDPOINT).replace(/\/+$/, '')}/v1/traces`
  const protocol = value('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? value('OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf'
  if (exporters.includes('otlp')) {
    let problem: string | undefined
    if (!PROTOCOLS.has(protocol)) problem = `the OTLP protocol ${protocol} is not supported (http/protobuf or http/json)`
    else if (!isHttpUrl(url)) problem = `${tracesEndpoint === undefined ? 'OTEL_EXPORTER_OTLP_ENDPOINT' : 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'} is not an http(s) URL`
    if (problem !== undefined) {
      warnings.push(`${problem}: no traces are sent over OTLP`)
      exporters = exporters.filter((name) => name !== 'otlp')
    }
  }
  if (exporters.length === 0) return { settings: undefined, warnings }
  return { settings: { exporters, otlp: { url, protocol: protocol as OtlpProtocol } }, warnings }
}

function isHttpUrl (text: string): boolean {
  try {
    const { protocol } = new URL(text)
    return protocol === 'http:' || protocol === 'https:'
  } catch {
    return false
  }
}

/** The URL without credentials or query, for the log line that says where traces go. */
export function loggableUrl (text: string): string {
  const url = new URL(text)
  return `${url.origin}${url.pathname}`
}

export interface StartTracingOptions {
  serviceVersion: string
  /** which requests are traced (default: parentbased_always_on, the SDK's) */
  sampler?: SamplerSettings
  /** SHUTDOWN_FLUSH_MS unless a test says */
  flushTimeoutMs?: number
}

/**
 * The OpenTelemetry SDK, set up from `settings`: a tracer provider registered with the API (W3C
 * trace context and baggage, async-local context), a batch processor per exporter and the ioredis
 * instrumentation. The SDK is loaded here, only when tracing is on: when it is off, nothing but
 * @opentelemetry/api is. The exporter and batch processor also read their own OTEL_* variables
 * (headers, timeouts, OTEL_BSP_*) from process.env. Sampling is decided per request, before any
 * span exists (`sample`), so the provider's own sampler records every span it is asked for: the
 * spans inside a request are made only under a recording request span (parentContext,
 * recordingSpanActive). Ids come from a pool of random bytes (src/observability/trace-ids.ts).
 */
export async function startTracing (settings: TracingSettings, options: StartTracingOptions): Promise<Tracing> {
  const [sdk, { AsyncLocalStorageContextManager }, resources, semconv, { IORedisInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
    import('@opentelemetry/instrumentation-ioredis')
  ])
  const exporters = await Promise.all(settings.exporters.map(async (name) => {
    if (name === 'console') return new sdk.ConsoleSpanExporter()
    const { url } = settings.otlp
    if (settings.otlp.protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({ url })
    return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter({ url })
  }))
  // later attributes win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES over ours, ours over the SDK's
  const resource = resources.defaultResource()
    .merge(resources.resourceFromAttributes({ [semconv.ATTR_SERVICE_NAME]: 'vending-orders-bff', [semconv.ATTR_SERVICE_VERSION]: options.serviceVersion }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }))
  const provider = new sdk.NodeTracerProvider({
    resource,
    // the request's sampling decision was made before its span was asked for; a span is never sampled twice
    sampler: new sdk.AlwaysOnSampler(),
    idGenerator: pooledIdGenerator(),
    spanProcessors: exporters.map((exporter) => new sdk.BatchSpanProcessor(exporter))
  })
  const contextManager = new AsyncLocalStorageContextManager()
  provider.register({ contextManager })
  const holdContext = contextHolds(contextManager)
  setContextHolds(holdContext)
  // Redis commands made during a (sampled) request, once ioredis is loaded through require (the hook patches require,
  // not ESM import); command names only, never keys, values or AUTH arguments
  const redis = new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command })
  redis.setTracerProvider(provider)

  let shutdown: Promise<{ flushed: boolean }> | undefined
  return {
    tracer: provider.getTracer('vending-orders-bff', options.serviceVersion),
    sample: createRequestSampler(options.sampler ?? { name: 'parentbased_always_on', ratio: 1 }),
    holdContext,
    shutdown: async () => await (shutdown ??= (async () => {
      redis.disable()
      let timer: NodeJS.Timeout | undefined
      const bound = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), options.flushTimeoutMs ?? SHUTDOWN_FLUSH_MS) })
      // an exporter that fails is as done as one that finished: what it had is gone either way
      const flushed = await Promise.race([provider.shutdown().then(() => true, () => true), bound])
      clearTimeout(timer)
      // a later start in this process (the tests) registers its own
      trace.disable()
      context.disable()
      propagation.disable()
      setContextHolds(undefined)
      return { flushed }
    })())
  }
}

/**
 * Whether the code running now is inside a recording span: a sampled request's lookup, whose
 * vendor call runs in its context. The spans below a lookup (slot wait, vendor attempt) are made
 * only then, so an unsampled request makes none, and none starts a trace of its own outside a request.
 */
export function recordingSpanActive (): boolean {
  return trace.getSpan(context.active())?.isRecording() === true
}

/** The part of the SDK's AsyncLocalStorageContextManager that contextHolds wraps. */
export interface HoldableContextManager {
  with: (...args: any[]) => unknown
  disable: () => unknown
}

/**
 * Node 20's AsyncLocalStorage (the async_hooks one; Node 24's AsyncContextFrame has no such cost)
 * turns on a promise hook for every promise in the process from its first run() on, sampled
 * request or not. This lets it go whenever no work that runs in a trace's context is in flight
 * (a traced vendor call, or a request with asyncContext; the next run() turns it on again): in
 * between, there is no context to carry. The work a request leaves running after its answer loses
 * its context then, and makes no more spans.
 *
 * A run nothing holds lets it go too, once its callback returns: the SDK's batch processor exports
 * in a context of its own (context.with, to suppress tracing of the export), and that run alone
 * kept the hook on for every later request, traced or not, until a traced vendor call let it go;
 * a cache hit never makes one. What such a run starts asynchronously (the export's HTTP request)
 * goes on without the context, and no instrumentation here makes spans of it.
 */
export function contextHolds (contextManager: HoldableContextManager): () => () => void {
  const hooksBased = typeof (new AsyncLocalStorage() as unknown as { kResourceStore?: unknown }).kResourceStore === 'symbol'
  if (!hooksBased) return () => () => {}
  let held = 0
  // runs of with() in progress: letting go inside one would lose the context of the rest of its callback
  let running = 0
  const run = contextManager.with.bind(contextManager)
  contextManager.with = (...args: unknown[]) => {
    running += 1
    try {
      return run(...args)
    } finally {
      running -= 1
      if (running === 0 && held === 0) contextManager.disable()
    }
  }
  return () => {
    held += 1
    let released = false
    return () => {
      if (released) return
      released = true
      held -= 1
      // at once: waiting (for the loop's next turn, or 20 ms) kept the hook on for the unsampled requests of
      // that turn, which costs 1% sampling more than turning it off and on for each traced request costs
      // tracing every request (setPromiseHooks, 0.4% of that profile)
      if (held === 0 && running === 0) contextManager.disable()
    }
  }
}
