import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { FAULT_KINDS, publicFaults, type Faults } from './faults.js'
import type { SimulatorStats } from './stats.js'

export interface AdminOptions {
  stats: SimulatorStats
  faults: () => Faults
  setFaults: (change: Partial<Faults>) => void
  reset: () => void
}

const ForcedErrorSchema = z.strictObject({
  code: z.number().int().min(-2_147_483_648).max(2_147_483_647),
  httpStatus: z.number().int().min(200).max(599).optional(),
  message: z.string().max(1000).optional()
})

/** Partial<Faults> as JSON can carry it: no random, unknown keys refused. */
export const FaultsInputSchema = z.strictObject({
  latencyMs: z.number().int().min(0).max(600_000).optional(),
  slowMs: z.number().int().min(0).max(600_000).optional(),
  rates: z.partialRecord(z.enum(FAULT_KINDS), z.number().min(0).max(1)).optional(),
  force: z.union([z.enum(FAULT_KINDS), ForcedErrorSchema, z.null()]).optional()
})

/** Control routes for tests, benchmarks and soak runs; never part of the vendor's API. */
export async function adminRoutes (app: FastifyInstance, options: AdminOptions): Promise<void> {
  app.get('/_simulator/stats', async () => options.stats)

  app.get('/_simulator/faults', async () => publicFaults(options.faults()))

  app.put('/_simulator/faults', async (request, reply) => {
    const parsed = FaultsInputSchema.safeParse(request.body)
    if (!parsed.success) {
      return reply.code(400).send({
        error: 'invalid faults',
        issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }))
      })
    }
    options.setFaults(parsed.data)
    return publicFaults(options.faults())
  })

  app.post('/_simulator/reset', async (_request, reply) => {
    options.reset()
    return reply.code(204).send()
  })
}
