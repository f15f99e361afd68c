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
 * Shutdown in two steps: `readiness.ready` turns false (server.ts does it on SIGTERM, closing
 * does it anyway), then, while draining, every answer closes its connection: clients reconnect
 * elsewhere, and the listener can close without waiting out keep-alive timeouts.
 */
const draining: FastifyPluginAsync = async (app) => {
  const readiness: Readiness = { ready: true }
  app.decorate('readiness', readiness)
  app.addHook('preClose', async () => { readiness.ready = false })
  app.addHook('onSend', async (_request, reply) => {
    if (!readiness.ready) reply.header('connection', 'close')
  })
}

export const drainingPlugin = fp(draining, { name: 'draining' })
