export interface SimulatorStats {
  calls: number
  byOrder: Record<string, number>
  faults: Record<string, number>
  /** delivery notifications to the notify URL: received (2xx), and dropped after the retry */
  notifications: { sent: number, failed: number }
}

/** Null-prototype maps: order ids come from the URL and must not reach Object.prototype. */
export function createStats (): SimulatorStats {
  return { calls: 0, byOrder: Object.create(null), faults: Object.create(null), notifications: { sent: 0, failed: 0 } }
}

/** Zeroes the stats in place, so references held by tests stay live. */
export function clearStats (stats: SimulatorStats): void {
  stats.calls = 0
  for (const key of Object.keys(stats.byOrder)) delete stats.byOrder[key]
  for (const key of Object.keys(stats.faults)) delete stats.faults[key]
  stats.notifications.sent = 0
  stats.notifications.failed = 0
}
