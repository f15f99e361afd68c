// first: a V8 flag that must be set before the rest allocates (see the module)
import './v8-flags.js'
import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, VENDOR_SETTINGS, type Config, type VendorSettings } from './config.js'
import { DESCRIPTORS_BESIDES_CONNECTIONS, openFilesSoftLimit } from './descriptors.js'
import { createLogger } from './logger.js'
import { createMetrics } from './metrics.js'
import { buildMetricsServer } from './metrics-server.js'
import { buildSimulator } from './simulator/app.js'
import { DEMO_CREDENTIALS } from './simulator/credentials.js'

// The only module with side effects (with v8-flags.ts): reads the environment, listens, shuts down gracefully.

function readConfig (): Config {
  try {
    return loadConfig(process.env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    createLogger('info').fatal({ problems: error.problems }, 'invalid configuration, not starting')
    process.exit(1)
  }
}

const config = readConfig()
const logger = createLogger(config.logLevel)

let vendor: VendorSettings
let simulator: FastifyInstance | undefined
if (config.vendor === null) {
  simulator = buildSimulator()
  const simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 })
  vendor = { baseUrl: simulatorUrl, ...DEMO_CREDENTIALS }
  logger.warn({ simulator: simulatorUrl },
    `DEMO MODE: no vendor configured (${VENDOR_SETTINGS.join(', ')}), answering from the embedded vendor simulator. Try GET /orders/54?machine=16327129`)
} else {
  vendor = config.vendor
}

const metrics = createMetrics()
const app = await buildApp({ ...config, vendor, demo: simulator !== undefined }, { logger, metrics })
const metricsServer = buildMetricsServer(metrics.registry)

// On SIGTERM: fail readiness first so load balancers stop sending, keep serving for the drain
// delay, then stop accepting and let in-flight requests finish before the vendor pool closes.
const { shutdownDelayMs } = config.limits
closeWithGrace({ delay: shutdownDelayMs + config.vendorTimeoutMs + 10_000, logger }, async ({ signal, err }) => {
  if (err !== undefined) logger.error({ err }, 'shutting down after an unexpected error')
  else logger.info({ signal, shutdownDelayMs }, 'shutting down: readiness off, draining')
  app.readiness.ready = false
  if (err === undefined && shutdownDelayMs > 0) await sleep(shutdownDelayMs)
  // server.close() alone would wait on silent and half-sent connections until their deadlines
  app.connections.closeIdle()
  await app.close()
  await metricsServer.close()
  await simulator?.close()
  logger.info('stopped')
})

/** What an operator should read when listening fails for a reason of theirs; undefined for anything else. */
function listenFailure (code: string | undefined, setting: 'PORT' | 'METRICS_PORT', port: number, host: string): string | undefined {
  switch (code) {
    case 'EADDRINUSE': return `${setting}=${port} is already in use by another process`
    case 'EACCES': return `${setting}=${port} needs privileges this process does not have`
    case 'EADDRNOTAVAIL': return `${setting === 'PORT' ? 'HOST' : 'METRICS_HOST'}=${host} is not an address of this machine`
    default: return undefined
  }
}

/** Listens, or ends the process with a line naming the setting when the address cannot be had. */
async function listenOrExit (server: FastifyInstance, setting: 'PORT' | 'METRICS_PORT', port: number, host: string): Promise<string> {
  try {
    return await server.listen({ port, host })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const failure = listenFailure(code, setting, port, host)
    if (failure === undefined) throw error
    logger.fatal({ code }, `${failure}; not starting`)
    process.exit(1)
  }
}

const descriptorLimit = openFilesSoftLimit()
if (descriptorLimit !== undefined && config.limits.maxConnections + DESCRIPTORS_BESIDES_CONNECTIONS > descriptorLimit) {
  logger.warn({ maxConnections: config.limits.maxConnections, openFilesLimit: descriptorLimit },
    `MAX_CONNECTIONS=${config.limits.maxConnections} leaves too few of this process's ${descriptorLimit} file descriptors (ulimit -n) for the vendor pool, metrics and logs: lower MAX_CONNECTIONS or raise the limit`)
}

// metrics first: a taken metrics port stops the start before the API takes traffic
const metricsUrl = await listenOrExit(metricsServer, 'METRICS_PORT', config.metricsPort, config.metricsHost)
logger.info({ metrics: `${metricsUrl}/metrics` }, 'metrics listening')
await listenOrExit(app, 'PORT', config.port, config.host)
if (config.production && config.apiKeys.length === 0) logger.warn('API_KEYS is not set: anyone who can reach this service can query orders')
// the base URL as configured, path prefix included (config refuses credentials in it)
logger.info({ vendor: vendor.baseUrl, vendorTimeoutMs: config.vendorTimeoutMs, demo: simulator !== undefined }, 'ready')
