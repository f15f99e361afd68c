import { ERROR_KINDS } from '../../errors/catalogue.js'
import type { Outcome } from '../outcome.js'
import { representationOf } from '../representation.js'

/** The tag of an outcome: the order's ETag, or the final error's code, so a change is told from a repeat. */
export function outcomeTag (outcome: Outcome): string {
  return outcome.kind === 'order' ? representationOf(outcome.order).etag : `problem:${outcome.error.code}`
}

/** True when nothing can follow this outcome: a terminal order or a final error (no such order or machine, expired). */
export function isFinal (outcome: Outcome): boolean {
  return outcome.kind === 'error' ? ERROR_KINDS[outcome.error.code].final : outcome.order.terminal
}
