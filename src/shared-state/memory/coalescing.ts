import type { Coalescing } from '../../orders/read-through.js'

/** One process alone has nobody to wait for: the work just runs (read-through already makes it one call per key here). */
export const runInThisProcess: Coalescing = async (_key, work) => ({ outcome: await work(), tier: 'vendor' })
