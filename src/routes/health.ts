import type { FastifyPluginAsync } from 'fastify'

/** What readiness reads: the draining plugin's `readiness`, the pressure plugin's `isUnderPressure`. */
const READINESS_DECORATORS = ['readiness', 'isUnderPressure']

/** The platform's probes: every few seconds each, so they are left out of the request log and the traces. */
export function isHealthProbe (url: string): boolean {
  return url.startsWith('/health/')
}

/**
 * Liveness answers while the process runs; readiness answers 503 once shutdown starts (draining)
 * and while the process sheds load (pressure), so balancers send less. Both are left out of the
 * OpenAPI document: they are for the platform, not for app developers.
 */
export const healthRoutes: FastifyPluginAsync = async (app) => {
  // refused at start, not on the first probe
  for (const name of READINESS_DECORATORS) {
    if (!app.hasDecorator(name)) throw new Error(`the health routes need the ${name} decorator, registered before them`)
  }
  app.get('/health/live', { schema: { hide: true } }, async () => ({ status: 'ok' }))
  app.get('/health/ready', { schema: { hide: true } }, async (_request, reply) => {
    if (!app.readiness.ready) return reply.code(503).send({ status: 'shutting down' })
    if (app.isUnderPressure()) return reply.code(503).send({ status: 'overloaded' })
    return { status: 'ok' }
  })
}
