import { buildSimulator } from './app.js'
import { DEMO_CREDENTIALS } from './credentials.js'

/** A non-negative integer from the environment, or the fallback; anything else stops the start. */
function intFromEnv (name: string, fallback: number, max: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw) || Number(raw) > max) {
    console.error(`${name} must be an integer from 0 to ${max}, got ${JSON.stringify(raw)}`)
    process.exit(1)
  }
  return Number(raw)
}

const port = intFromEnv('SIMULATOR_PORT', 4010, 65535)
const host = process.env.SIMULATOR_HOST ?? '127.0.0.1'
const latencyMs = intFromEnv('SIMULATOR_LATENCY_MS', 0, 600_000)

const app = buildSimulator({ logger: true, faults: { latencyMs } })

let closing = false
async function shutdown (signal: string): Promise<void> {
  if (closing) return
  closing = true
  app.log.info({ signal }, 'vendor simulator closing')
  await app.close()
}
process.once('SIGINT', () => { shutdown('SIGINT').catch(() => process.exit(1)) })
process.once('SIGTERM', () => { shutdown('SIGTERM').catch(() => process.exit(1)) })

try {
  const url = await app.listen({ port, host })
  // the Appid only: the secret and sign key are demo values, but logs must not teach copying secrets
  app.log.info({ url, appId: DEMO_CREDENTIALS.appId, latencyMs }, `vendor simulator at ${url}`)
} catch (error) {
  app.log.error(error, 'vendor simulator failed to start')
  process.exit(1)
}
