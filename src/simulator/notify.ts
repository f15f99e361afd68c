import type { FastifyBaseLogger } from 'fastify'
import { Agent, request } from 'undici'
import type { Scheduler } from './clock-orders.js'
import type { VendorOrderData } from './scenarios.js'
import type { SimulatorStats } from './stats.js'

/** The vendor's delivery callback: unsigned, and it names no machine. */
export interface DeliveryNotification {
  method: 'device.delivery.response'
  order_id: number
  record_id: number
  deliver_status: '1' | '0'
  floor_status: string
  error_msg: string
}

/**
 * The simulator's own notification, not the vendor's: a clock order's run was forgotten, so the
 * order is no longer final. It tells a receiver that keeps final answers to ask again.
 */
export interface RestartNotification {
  method: 'simulator.order.restarted'
  order_id: number
}

export type Notification = DeliveryNotification | RestartNotification

type Outcome = Pick<DeliveryNotification, 'deliver_status' | 'floor_status' | 'error_msg'>

/** What the machine reports for each final line status (floor_status: 1 normal, 3 motor fault, 47 serial timeout). */
export const DELIVERY_OUTCOMES: Record<string, Outcome> = {
  IS_SUCCESS: { deliver_status: '1', floor_status: '1', error_msg: '' },
  IS_FAILED: { deliver_status: '0', floor_status: '3', error_msg: 'Slave Comm Error' },
  IS_TIMEOUT: { deliver_status: '0', floor_status: '47', error_msg: 'Serial Timeout' }
}

/** Each call to the notify URL gives up after this long: connect, headers and body each. */
export const NOTIFY_TIMEOUT_MS = 2_000
/** One retry, this long after a failed attempt; then the notification is dropped with a warning. */
export const NOTIFY_RETRY_AFTER_MS = 1_000
const ATTEMPTS = 2

/** One notification per line that has reached a final dispense status. */
export function deliveryNotifications (data: VendorOrderData): DeliveryNotification[] {
  return data.records.flatMap((record) => {
    const outcome = Object.hasOwn(DELIVERY_OUTCOMES, record.status) ? DELIVERY_OUTCOMES[record.status] : undefined
    if (outcome === undefined) return []
    return [{ method: 'device.delivery.response' as const, order_id: Number(data.order_id), record_id: Number(record.id), ...outcome }]
  })
}

/** The URL is read at each attempt; its path may hold the receiver's token, so only its origin is logged. */
export interface NotifierOptions {
  url: () => string | undefined
  scheduler: Scheduler
  log: FastifyBaseLogger
  stats: SimulatorStats
}

export interface Notifier {
  /** POSTs it as JSON; settles after the first attempt (a retry is scheduled, not awaited) and never rejects */
  send (notification: Notification): Promise<void>
  /** cancels retries and calls in flight */
  close (): Promise<void>
}

export function createNotifier ({ url, scheduler, log, stats }: NotifierOptions): Notifier {
  const agent = new Agent({ connect: { timeout: NOTIFY_TIMEOUT_MS }, headersTimeout: NOTIFY_TIMEOUT_MS, bodyTimeout: NOTIFY_TIMEOUT_MS })
  const closing = new AbortController()
  const retries = new Set<unknown>()

  async function post (target: string, notification: Notification): Promise<void> {
    const response = await request(target, {
      method: 'POST',
      dispatcher: agent,
      signal: closing.signal,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(notification)
    })
    await response.body.dump()
    // the vendor expects 200; any 2xx is taken as received
    if (response.statusCode < 200 || response.statusCode > 299) throw new Error(`HTTP ${response.statusCode}`)
  }

  async function attempt (notification: Notification, attemptNo: number): Promise<void> {
    const target = url()
    if (target === undefined || closing.signal.aborted) return
    const about = notification.method === 'device.delivery.response'
      ? { orderId: notification.order_id, recordId: notification.record_id, notify: URL.parse(target)?.origin, attempt: attemptNo }
      : { orderId: notification.order_id, method: notification.method, notify: URL.parse(target)?.origin, attempt: attemptNo }
    try {
      await post(target, notification)
      stats.notifications.sent++
      log.info({ ...about, deliverStatus: 'deliver_status' in notification ? notification.deliver_status : undefined }, 'delivery notification sent')
    } catch (error) {
      if (closing.signal.aborted) return
      const reason = (error as { code?: string }).code ?? (error as Error).message
      if (attemptNo < ATTEMPTS) {
        log.warn({ ...about, reason }, 'delivery notification failed, retrying once')
        const handle = scheduler.setTimeout(async () => {
          retries.delete(handle)
          await attempt(notification, attemptNo + 1)
        }, NOTIFY_RETRY_AFTER_MS)
        retries.add(handle)
      } else {
        stats.notifications.failed++
        log.warn({ ...about, reason }, 'delivery notification failed, dropped')
      }
    }
  }

  return {
    send: async (notification) => { await attempt(notification, 1) },
    async close () {
      closing.abort()
      for (const handle of retries) scheduler.clearTimeout(handle)
      retries.clear()
      await agent.destroy()
    }
  }
}
