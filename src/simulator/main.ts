import { buildSimulator } from './app.js'
import { DEMO_CREDENTIALS } from './credentials.js'
import { loadSimulatorSettings } from './settings.js'

const settings = loadSimulatorSettings(process.env)
if ('problems' in settings) {
  for (const problem of settings.problems) console.error(problem)
  process.exit(1)
}
const { port, host, latencyMs, notifyUrl } = settings

const app = buildSimulator({ logger: true, faults: { latencyMs }, notifyUrl })

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
  // the notify URL's origin only: its path may carry the receiver's callback token
  const notify = notifyUrl === undefined ? null : URL.parse(notifyUrl)?.origin
  app.log.info({ url, appId: DEMO_CREDENTIALS.appId, latencyMs, notify }, `vendor simulator at ${url}`)
} catch (error) {
  app.log.error(error, 'vendor simulator failed to start')
  process.exit(1)
}
