/** The standalone simulator's settings (npm run simulator, compose.yaml's vendor), by variable name. */
export const SIMULATOR_SETTINGS = ['SIMULATOR_PORT', 'SIMULATOR_HOST', 'SIMULATOR_LATENCY_MS', 'SIMULATOR_NOTIFY_URL'] as const

export interface SimulatorSettings {
  port: number
  host: string
  latencyMs: number
  /** where delivery notifications are POSTed, as the vendor's notify_url; undefined: none are sent */
  notifyUrl: string | undefined
}

/** Environment → the simulator's settings, or the list of what is wrong with it (values are not secrets here). */
export function loadSimulatorSettings (env: Record<string, string | undefined>): SimulatorSettings | { problems: string[] } {
  const problems: string[] = []
  const value = (name: typeof SIMULATOR_SETTINGS[number]): string | undefined => env[name] === '' ? undefined : env[name]

  function int (name: typeof SIMULATOR_SETTINGS[number], fallback: number, max: number): number {
    const raw = value(name)
    if (raw === undefined) return fallback
    if (!/^\d+$/.test(raw) || Number(raw) > max) problems.push(`${name} must be an integer from 0 to ${max}, got ${JSON.stringify(raw)}`)
    return Number(raw)
  }

  const notifyUrl = value('SIMULATOR_NOTIFY_URL')
  if (notifyUrl !== undefined && !/^https?:$/.test(URL.parse(notifyUrl)?.protocol ?? '')) {
    problems.push(`SIMULATOR_NOTIFY_URL must be an http(s) URL, got ${JSON.stringify(notifyUrl)}`)
  }
  const settings = {
    port: int('SIMULATOR_PORT', 4010, 65535),
    host: value('SIMULATOR_HOST') ?? '127.0.0.1',
    latencyMs: int('SIMULATOR_LATENCY_MS', 0, 600_000),
    notifyUrl
  }
  return problems.length > 0 ? { problems } : settings
}
