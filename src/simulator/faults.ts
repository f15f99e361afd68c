/** Transport trouble the simulator can inject, in the order rates are drawn from. */
export const FAULT_KINDS = ['reset', 'resetMidBody', 'garbage', 'html502', 'huge', 'slow'] as const
export type FaultKind = typeof FAULT_KINDS[number]

/** A vendor error envelope to answer instead of the real one. */
export interface ForcedError {
  code: number
  httpStatus?: number
  message?: string
}

export interface Faults {
  latencyMs: number
  slowMs: number
  rates: Partial<Record<FaultKind, number>>
  force: FaultKind | ForcedError | null
  random: () => number
}

export const DEFAULT_FAULTS: Faults = {
  latencyMs: 0,
  slowMs: 10_000,
  rates: {},
  force: null,
  random: Math.random
}

/** Faults with only the fields that were given (undefined means "keep the current value"). */
export function mergeFaults (current: Faults, change: Partial<Faults>): Faults {
  const defined = Object.entries(change).filter(([, value]) => value !== undefined)
  return { ...current, ...Object.fromEntries(defined) }
}

/**
 * The fault for one request: the forced one, else one draw of random() against the rates laid
 * end to end (so rates add up, and a single draw keeps tests deterministic), else none.
 */
export function pickFault (faults: Faults): FaultKind | ForcedError | null {
  if (faults.force !== null) return faults.force
  const total = FAULT_KINDS.reduce((sum, kind) => sum + (faults.rates[kind] ?? 0), 0)
  if (total <= 0) return null
  const draw = faults.random()
  let edge = 0
  for (const kind of FAULT_KINDS) {
    edge += faults.rates[kind] ?? 0
    if (draw < edge) return kind
  }
  return null
}

/** The faults as JSON can carry them (random is a function). */
export function publicFaults (faults: Faults): Omit<Faults, 'random'> {
  const { random: _random, ...rest } = faults
  return rest
}
