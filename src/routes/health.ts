import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

/**
 * Liveness answers while the process runs; readiness answers 503 once shutdown starts (draining)
 * and while the process sheds load (pressure), so balancers send less. Both are left out of the
 * OpenAPI document: they are for the platform, not for app developers.
 */
const health: FastifyPluginAsync = async (app) => {
  app.get('/health/live', { schema: { hide: true } }, async () => ({ status: 'ok' }))
  app.get('/health/ready', { schema: { hide: true } }, async (_request, reply) => {
    if (!app.readiness.ready) return reply.code(503).send({ status: 'shutting down' })
    if (app.isUnderPressure()) return reply.code(503).send({ status: 'overloaded' })
    return { status: 'ok' }
  })
}

export const healthPlugin = fp(health, { name: 'health', decorators: { fastify: ['readiness', 'isUnderPressure'] } })
