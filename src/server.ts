import closeWithGrace from 'close-with-grace'
import { start, StartRefused, type Service } from './bootstrap/start.js'

// The service's entry point: the only one of its modules that reads the environment or ends the process.

async function startOrExit (): Promise<Service> {
  try {
    return await start(process.env)
  } catch (error) {
    // start() has logged what the operator must fix
    if (error instanceof StartRefused) process.exit(1)
    throw error
  }
}

const service = await startOrExit()
const { config } = service
// time for the drain delay, the slowest vendor call and the servers' closing; then the process is killed
closeWithGrace({ delay: config.limits.shutdownDelayMs + config.vendorTimeoutMs + 10_000, logger: service.logger }, service.stop)
