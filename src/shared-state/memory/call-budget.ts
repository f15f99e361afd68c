import type { CallBudgetLimits, CallTokens } from '../../upstream/call-budget.js'

/**
 * The vendor call budget of one process: a token bucket of `burst` calls refilled at
 * `perSecond`, starting full. So in any T seconds it gives at most burst + perSecond × T calls.
 * A background take leaves `reserve` calls in it for requests and wake-ups. A refusal says how
 * long until the bucket holds what that take needs.
 */
export function createMemoryCallTokens ({ perSecond, burst, reserve }: CallBudgetLimits, now: () => number): CallTokens {
  let level = burst
  let at = now()
  return {
    async take (background) {
      const time = now()
      if (time > at) {
        level = Math.min(burst, level + (time - at) * perSecond / 1000)
        at = time
      }
      const needs = background ? reserve + 1 : 1
      if (level >= needs) {
        level -= 1
        return 0
      }
      return Math.max(1, Math.ceil((needs - level) * 1000 / perSecond))
    }
  }
}
