import { hash } from 'node:crypto'
import { schemaSerializer } from '../http/serializer.js'
import type { CacheResult, Outcome, Served } from './outcome.js'
import { OrderSchema, type Order } from './schema.js'

/** This service's name in Cache-Status (RFC 9211). */
export const CACHE_NAME = 'vending-orders'

/** An order as it is sent: its JSON body and that body's strong ETag. */
export interface Representation {
  body: string
  etag: string
}

/**
 * The 200's only serializer (the route sends orders through it): the one http/serializer.ts
 * compiles for OrderSchema; exactly the documented fields, and a missing one throws. The values
 * are the normalizer's (property-tested against OrderSchema).
 */
const serializeOrder = schemaSerializer(OrderSchema)

// one per order object, so per stored outcome: every poll of a kept order sends the same string
const representations = new WeakMap<Order, Representation>()

/** The order's body and ETag, serialized and hashed once however often the order is sent. */
export function representationOf (order: Order): Representation {
  let representation = representations.get(order)
  if (representation === undefined) {
    const body = serializeOrder(order)
    representation = { body, etag: `"${hash('sha256', body, 'base64url').slice(0, 32)}"` }
    representations.set(order, representation)
  }
  return representation
}

/** The route's 200 serializer: the order's memoised body. */
export const orderBody = (order: Order): string => representationOf(order).body

const CACHE_STATUS: Record<CacheResult, string> = {
  hit: `${CACHE_NAME}; hit; ttl=`,
  miss: `${CACHE_NAME}; fwd=miss; stored; ttl=`,
  coalesced: `${CACHE_NAME}; fwd=miss; collapsed; ttl=`,
  // served an expired outcome because the vendor failed just now
  stale: `${CACHE_NAME}; fwd=stale; detail=stale-if-error; ttl=`,
  bypass: `${CACHE_NAME}; fwd=bypass; ttl=`
}

/** Whole seconds the outcome stays fresh from now; negative once it is stale. */
const secondsLeft = (outcome: Outcome, now: number): number => Math.floor((outcome.storedAt + outcome.freshMs - now) / 1000)

/** Cache-Control for an order and a kept problem alike: what an app may reuse without asking again. */
export function cacheControl (outcome: Outcome, now: number): string {
  return `private, max-age=${Math.max(0, secondsLeft(outcome, now))}`
}

/** Cache-Status (RFC 9211): how this request got the outcome, and how fresh it is. */
export function cacheStatus ({ outcome, result }: Pick<Served, 'outcome' | 'result'>, now: number): string {
  return CACHE_STATUS[result] + secondsLeft(outcome, now)
}

/** If-None-Match against our strong ETag (weak comparison, as RFC 9110 asks for this header). */
export function matchesIfNoneMatch (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}
