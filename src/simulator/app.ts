import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { adminRoutes } from './admin.js'
import { createClockOrders, REAL_SCHEDULER, type Scheduler } from './clock-orders.js'
import { DEMO_CREDENTIALS, type SimulatorCredentials } from './credentials.js'
import { DEFAULT_FAULTS, mergeFaults, type Faults } from './faults.js'
import { createNotifier, deliveryNotifications } from './notify.js'
import { SCENARIO_ORDERS } from './scenarios.js'
import { clearStats, createStats, type SimulatorStats } from './stats.js'
import { vendorRoute } from './vendor-route.js'

export type { SimulatorCredentials } from './credentials.js'
export type { FaultKind, Faults, ForcedError } from './faults.js'
export type { SimulatorStats } from './stats.js'
export type { Scheduler } from './clock-orders.js'

export interface SimulatorOptions {
  credentials?: SimulatorCredentials
  /** clock in ms; drives the clock orders */
  now?: () => number
  /** timers for the clock orders' ends and notification retries (default: Node's, unref'd); a fake one goes with a fake `now` */
  scheduler?: Scheduler
  /**
   * where each clock order line's device.delivery.response is POSTed when it finishes, as the
   * vendor's notify_url (http or https); none are sent without it. Can be set later with setNotifyUrl.
   */
  notifyUrl?: string
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
  /** the notify URL in force; read when each notification is sent */
  readonly notifyUrl: string | undefined
  /** sets or (undefined) removes the notify URL, e.g. once the receiver's address is known; throws unless http(s) */
  setNotifyUrl (url: string | undefined): void
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
  const scheduler = options.scheduler ?? REAL_SCHEDULER
  const initialFaults = mergeFaults(DEFAULT_FAULTS, options.faults ?? {})
  let faults = initialFaults
  const stats = createStats()

  let notifyUrl = checkNotifyUrl(options.notifyUrl)

  const app = Fastify({ logger: (options.logger ?? false) as FastifyServerOptions['logger'] })

  const notifier = createNotifier({ url: () => notifyUrl, scheduler, log: app.log, stats })
  // each line's notification goes out when its run ends, scheduled at the run's start: nobody need be asking then
  const clockOrders = createClockOrders({
    now,
    scheduler,
    async onFinished (orderId) {
      const final = SCENARIO_ORDERS[orderId]?.phases?.at(-1)?.data
      if (final === undefined || notifyUrl === undefined) return
      await Promise.all(deliveryNotifications(final).map(notifier.send))
    },
    async onRestarted (orderId) {
      if (notifyUrl !== undefined) await notifier.send({ method: 'simulator.order.restarted', order_id: Number(orderId) })
    }
  })
  app.addHook('onClose', async () => {
    clockOrders.clear()
    await notifier.close()
  })

  const control: SimulatorControl = {
    stats,
    get faults () { return faults },
    setFaults (change) { faults = mergeFaults(faults, change) },
    resetStats () { clearStats(stats) },
    get notifyUrl () { return notifyUrl },
    setNotifyUrl (url) { notifyUrl = checkNotifyUrl(url) }
  }
  app.decorate('simulator', control)

  app.get('/health', async () => ({ status: 'ok' }))

  app.register(vendorRoute, {
    credentials,
    stats,
    faults: () => faults,
    elapsedMs: clockOrders.elapsedMs
  })

  if (options.admin !== false) {
    app.register(adminRoutes, {
      stats,
      faults: () => faults,
      setFaults: control.setFaults,
      reset () {
        clearStats(stats)
        faults = initialFaults
        clockOrders.clear()
      }
    })
  }

  return app
}

function checkNotifyUrl (url: string | undefined): string | undefined {
  if (url !== undefined && !/^https?:$/.test(URL.parse(url)?.protocol ?? '')) {
    throw new TypeError('the notify URL must be an http(s) URL')
  }
  return url
}
