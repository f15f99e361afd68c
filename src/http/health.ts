import type { FastifyPluginAsync } from 'fastify'

/**
 * Liveness answers while the process runs; readiness turns 503 as soon as shutdown starts,
 * so a load balancer stops sending traffic before the listener closes.
 * Both are left out of the OpenAPI document: they are for the platform, not for app developers.
 */
export const healthRoutes: FastifyPluginAsync = async (app) => {
  let closing = false
  app.addHook('preClose', async () => { closing = true })

  app.get('/health/live', { schema: { hide: true } }, async () => ({ status: 'ok' }))
  app.get('/health/ready', { schema: { hide: true } }, async (_request, reply) => {
    if (closing) return reply.code(503).send({ status: 'closing' })
    return { status: 'ok' }
  })
}
