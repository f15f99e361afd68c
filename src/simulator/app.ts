import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { adminRoutes } from './admin.js'
import { DEMO_CREDENTIALS, type SimulatorCredentials } from './credentials.js'
import { DEFAULT_FAULTS, mergeFaults, type Faults } from './faults.js'
import { clearStats, createStats, type SimulatorStats } from './stats.js'
import { vendorRoute } from './vendor-route.js'

export type { SimulatorCredentials } from './credentials.js'
export type { FaultKind, Faults, ForcedError } from './faults.js'
export type { SimulatorStats } from './stats.js'

export interface SimulatorOptions {
  credentials?: SimulatorCredentials
  /** clock in ms; drives the progressing orders */
  now?: () => number
  logger?: boolean | object
  faults?: Partial<Faults>
  /** expose the /_simulator/* control routes (default true) */
  admin?: boolean
}

export interface SimulatorControl {
  stats: SimulatorStats
  /** the faults in force (read-only view; change them with setFaults) */
  readonly faults: Readonly<Faults>
  setFaults (f: Partial<Faults>): void
  resetStats (): void
}

declare module 'fastify' {
  interface FastifyInstance {
    simulator: SimulatorControl
  }
}

/** A stand-in for the vendor's order-query endpoint, as its own Fastify app (never listens by itself). */
export function buildSimulator (options: SimulatorOptions = {}): FastifyInstance {
  const credentials = options.credentials ?? DEMO_CREDENTIALS
  const now = options.now ?? Date.now
  const startedAt = now()
  const initialFaults = mergeFaults(DEFAULT_FAULTS, options.faults ?? {})
  let faults = initialFaults
  const stats = createStats()

  const app = Fastify({ logger: (options.logger ?? false) as FastifyServerOptions['logger'] })

  const control: SimulatorControl = {
    stats,
    get faults () { return faults },
    setFaults (change) { faults = mergeFaults(faults, change) },
    resetStats () { clearStats(stats) }
  }
  app.decorate('simulator', control)

  app.get('/health', async () => ({ status: 'ok' }))

  app.register(vendorRoute, {
    credentials,
    stats,
    faults: () => faults,
    elapsedMs: () => now() - startedAt
  })

  if (options.admin !== false) {
    app.register(adminRoutes, {
      stats,
      faults: () => faults,
      setFaults: control.setFaults,
      reset () {
        clearStats(stats)
        faults = initialFaults
      }
    })
  }

  return app
}
