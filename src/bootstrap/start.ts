import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { DestinationStream, Logger } from 'pino'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, VENDOR_SETTINGS, type Config, type VendorSettings } from '../config/config.js'
import { DESCRIPTORS_BESIDES_CONNECTIONS, openFilesSoftLimit } from './open-files-limit.js'
import { API_VERSION } from '../openapi/document.js'
import { createLogger } from '../observability/logger.js'
import { createMetrics } from '../observability/metrics.js'
import { buildMetricsServer } from '../observability/metrics-server.js'
import { buildSimulator } from '../simulator/app.js'
import { DEMO_CREDENTIALS } from '../simulator/credentials.js'
import { samplerSettings } from '../observability/sampling.js'
import { loggableUrl, SHUTDOWN_FLUSH_MS, startTracing, tracingSettings, type Tracing, type TracingSettings } from '../observability/tracing.js'

export interface StartOptions {
  /** where the log lines go (default: stdout) */
  destination?: DestinationStream
}

export interface Service {
  config: Config
  logger: Logger
  app: FastifyInstance
  metricsServer: FastifyInstance
  /** the embedded vendor simulator, in demo mode only */
  simulator: FastifyInstance | undefined
  /** traces, when the OTEL_* variables turn them on */
  tracing: Tracing | undefined
  url: string
  metricsUrl: string
  /** readiness off, the drain delay, then every server closed; after an error, without the delay. Once: later calls wait for the first */
  stop: (reason?: { signal?: string, err?: Error }) => Promise<void>
}

/** start() refused to start; why is already logged, as a fatal line naming the setting. */
export class StartRefused extends Error {
  constructor (reason: string) {
    super(reason)
    this.name = 'StartRefused'
  }
}

/**
 * Environment → a running service: config, logger, the simulator in demo mode, the API and the
 * metrics server listening. What an operator must fix is logged and thrown as StartRefused.
 */
export async function start (env: Record<string, string | undefined>, options: StartOptions = {}): Promise<Service> {
  const config = configOrRefuse(env, options.destination)
  const { settings: tracingWanted, warnings } = tracingSettings(env)
  const sampling = samplerSettings(env)
  const logger = createLogger(config.logLevel, options.destination, { traceContext: tracingWanted !== undefined })
  // before the app is built: the tracing plugin must see every route added
  const tracing = await tracingOrNot(tracingWanted, sampling, warnings, logger)

  let vendor: VendorSettings
  let simulator: FastifyInstance | undefined
  if (config.mode === 'demo') {
    simulator = buildSimulator()
    const simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 })
    vendor = { baseUrl: simulatorUrl, ...DEMO_CREDENTIALS }
    logger.warn({ simulator: simulatorUrl },
      `DEMO MODE: no vendor configured (${VENDOR_SETTINGS.join(', ')}), answering from the embedded vendor simulator. Try GET /orders/54?machine=16327129, or watch order 2001 live: GET /orders/2001/events?machine=16327129`)
  } else {
    vendor = config.vendor
  }

  // in demo mode the simulator sends its delivery notifications here, as a merchant's notify_url would
  const callbackToken = config.callbackToken ?? (simulator === undefined ? null : randomBytes(24).toString('hex'))
  const metrics = createMetrics()
  const app = await buildApp({ ...config, vendor, callbackToken }, { logger, metrics, tracing })
  const metricsServer = buildMetricsServer(metrics.registry, { log: logger })
  const { shutdownDelayMs } = config.limits

  // readiness fails first so load balancers stop sending, the drain delay passes, then the
  // listener stops and in-flight requests finish before the vendor pool closes
  async function shutDown ({ signal, err }: { signal?: string, err?: Error }): Promise<void> {
    if (err !== undefined) logger.error({ err }, 'shutting down after an unexpected error')
    else logger.info({ signal, shutdownDelayMs }, 'shutting down: readiness off, draining')
    app.readiness.ready = false
    try {
      if (err === undefined && shutdownDelayMs > 0) await sleep(shutdownDelayMs)
      // server.close() alone would wait on silent and half-sent connections until their deadlines
      app.connections.closeIdle()
      // the API finishes its answers; the metrics server cuts its connections at once (a scrape is not worth waiting for)
      await Promise.all([app.close(), metricsServer.close()])
      await simulator?.close()
      // the spans of the last requests are exported before the process ends, within a bound
      const traces = await tracing?.shutdown()
      if (traces?.flushed === false) logger.warn({ flushTimeoutMs: SHUTDOWN_FLUSH_MS }, 'tracing: the last spans were not exported in time at shutdown and were dropped')
    } finally {
      logger.info('stopped')
    }
  }
  let stopped: Promise<void> | undefined
  const stop = async (reason: { signal?: string, err?: Error } = {}): Promise<void> => { await (stopped ??= shutDown(reason)) }

  warnIfDescriptorsTooFew(config, logger)
  try {
    // metrics first: a taken metrics port stops the start before the API takes traffic
    const metricsUrl = await listenOrRefuse(metricsServer, 'METRICS_PORT', config.metricsPort, config.metricsHost, logger)
    // what is listened on: the host as configured (0.0.0.0 by default, not the loopback URL listen() returns) and the port taken
    logger.info({ metrics: { host: config.metricsHost, port: (metricsServer.server.address() as AddressInfo).port, path: '/metrics' } }, 'metrics listening')
    const url = await listenOrRefuse(app, 'PORT', config.port, config.host, logger)
    if (simulator !== undefined && callbackToken !== null) simulator.simulator.setNotifyUrl(`${loopbackUrl(app)}/callbacks/delivery/${callbackToken}`)
    if (config.mode === 'production' && config.apiKeys.length === 0) logger.warn('API_KEYS is not set: anyone who can reach this service can query orders')
    // the base URL as configured, path prefix included (config refuses credentials in it)
    logger.info({ vendor: vendor.baseUrl, vendorTimeoutMs: config.vendorTimeoutMs, demo: config.mode === 'demo' }, 'ready')
    return { config, logger, app, metricsServer, simulator, tracing, url, metricsUrl, stop }
  } catch (error) {
    await Promise.all([app.close(), metricsServer.close(), simulator?.close(), tracing?.shutdown()])
    throw error
  }
}

/** The API as this machine reaches it: an address it listens on, loopback when it listens on all. */
function loopbackUrl (app: FastifyInstance): string {
  const { address, port } = app.server.address() as AddressInfo
  const host = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

function configOrRefuse (env: Record<string, string | undefined>, destination: DestinationStream | undefined): Config {
  try {
    return loadConfig(env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    // no config, so no configured level: the problems are logged whatever LOG_LEVEL says
    createLogger('info', destination).fatal({ problems: error.problems }, 'invalid configuration, not starting')
    throw new StartRefused(error.message)
  }
}

/** The SDK started when the OTEL_* variables ask for traces; what they ask for and cannot be had is a warning. */
async function tracingOrNot (settings: TracingSettings | undefined, sampling: ReturnType<typeof samplerSettings>, warnings: string[], logger: Logger): Promise<Tracing | undefined> {
  for (const warning of warnings) logger.warn(`tracing: ${warning}`)
  if (settings === undefined) return undefined
  for (const warning of sampling.warnings) logger.warn(`tracing: ${warning}`)
  const { sampler } = sampling
  const tracing = await startTracing(settings, { serviceVersion: API_VERSION, sampler })
  const otlp = settings.exporters.includes('otlp') ? { endpoint: loggableUrl(settings.otlp.url), protocol: settings.otlp.protocol } : {}
  logger.info({ tracing: { exporters: settings.exporters, ...otlp, sampler: sampler.name, ...(sampler.name.endsWith('traceidratio') ? { ratio: sampler.ratio } : {}) } }, 'tracing on')
  return tracing
}

function warnIfDescriptorsTooFew (config: Config, logger: Logger): void {
  const { maxConnections } = config.limits
  const limit = openFilesSoftLimit()
  if (limit === undefined || maxConnections + DESCRIPTORS_BESIDES_CONNECTIONS <= limit) return
  logger.warn({ maxConnections, openFilesLimit: limit },
    `MAX_CONNECTIONS=${maxConnections} leaves too few of this process's ${limit} file descriptors (ulimit -n) for the vendor pool, metrics and logs: lower MAX_CONNECTIONS or raise the limit`)
}

/** What an operator should read when listening fails for a reason of theirs; undefined for anything else. */
function listenFailure (code: string | undefined, setting: 'PORT' | 'METRICS_PORT', port: number, host: string): string | undefined {
  switch (code) {
    case 'EADDRINUSE': return `${setting}=${port} is already in use by another process`
    case 'EACCES': return `${setting}=${port} needs privileges this process does not have`
    case 'EADDRNOTAVAIL': return `${setting === 'PORT' ? 'HOST' : 'METRICS_HOST'}=${host} is not an address of this machine`
    default: return undefined
  }
}

/** Listens, or logs a line naming the setting and refuses when the address cannot be had. */
async function listenOrRefuse (server: FastifyInstance, setting: 'PORT' | 'METRICS_PORT', port: number, host: string, logger: Logger): Promise<string> {
  try {
    return await server.listen({ port, host })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const failure = listenFailure(code, setting, port, host)
    if (failure === undefined) throw error
    logger.fatal({ code }, `${failure}; not starting`)
    throw new StartRefused(failure)
  }
}
