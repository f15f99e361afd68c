import type { FastifyReply } from 'fastify'
import type { Answer, CacheOutcome } from './cache.js'

/** This service's name in Cache-Status (RFC 9211). */
export const CACHE_NAME = 'vending-orders'

/** An order or a cached error, with how this request got it. */
export interface CachedAnswer {
  answer: Pick<Answer, 'storedAt' | 'freshMs'>
  outcome: CacheOutcome
}

/** Seconds the answer stays fresh from now: what an app may reuse without asking again. */
export function maxAgeSeconds ({ answer }: CachedAnswer, now: number): number {
  return Math.max(0, Math.floor((answer.storedAt + answer.freshMs - now) / 1000))
}

const CACHE_STATUS: Record<CacheOutcome, string> = {
  hit: 'hit',
  miss: 'fwd=miss; stored',
  coalesced: 'fwd=miss; collapsed',
  // served an expired answer because the vendor failed just now
  stale: 'fwd=stale; detail=stale-if-error',
  bypass: 'fwd=bypass'
}

export function cacheStatus (served: CachedAnswer, now: number): string {
  const ttl = Math.floor((served.answer.storedAt + served.answer.freshMs - now) / 1000)
  return `${CACHE_NAME}; ${CACHE_STATUS[served.outcome]}; ttl=${ttl}`
}

/** Cache-Control and Cache-Status, for an order and for a cached error alike. */
export function setCacheHeaders (reply: FastifyReply, served: CachedAnswer, now: number): FastifyReply {
  return reply.header('cache-control', `private, max-age=${maxAgeSeconds(served, now)}`).header('cache-status', cacheStatus(served, now))
}

/** If-None-Match against our strong ETag (weak comparison, as RFC 9110 asks for this header). */
export function matchesIfNoneMatch (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}
