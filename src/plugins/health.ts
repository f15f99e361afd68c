import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

export interface Readiness {
  ready: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    /** set `ready` to false to fail readiness before closing, so load balancers stop sending traffic */
    readiness: Readiness
  }
}

/**
 * Liveness answers while the process runs; readiness answers 503 once shutdown starts, and while
 * the process sheds load (isUnderPressure, from pressure.ts when registered) so balancers send less.
 * Both are left out of the OpenAPI document: they are for the platform, not for app developers.
 */
const health: FastifyPluginAsync = async (app) => {
  const readiness: Readiness = { ready: true }
  app.decorate('readiness', readiness)
  app.addHook('preClose', async () => { readiness.ready = false })
  // while draining, every answer closes its connection: clients reconnect elsewhere, and the
  // listener can close without waiting out keep-alive timeouts
  app.addHook('onSend', async (_request, reply) => {
    if (!readiness.ready) reply.header('connection', 'close')
  })

  app.get('/health/live', { schema: { hide: true } }, async () => ({ status: 'ok' }))
  app.get('/health/ready', { schema: { hide: true } }, async (_request, reply) => {
    if (!readiness.ready) return reply.code(503).send({ status: 'shutting down' })
    if (app.hasDecorator('isUnderPressure') && app.isUnderPressure()) return reply.code(503).send({ status: 'overloaded' })
    return { status: 'ok' }
  })
}

export const healthRoutes = fp(health, { name: 'health' })
