import { createRequire } from 'node:module'
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { Cluster, Redis } from 'ioredis'
import type { RedisLink } from './link.js'
import { BoundedRateLimitStore, type BoundedStoreOptions } from '../memory/rate-limit-store.js'

// @fastify/rate-limit's own Redis store: the package exports it by path only, and without a type
const RedisStore = createRequire(import.meta.url)('@fastify/rate-limit/store/RedisStore.js') as
  new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis | Cluster, key?: string) => FastifyRateLimitStore

type Callback = Parameters<FastifyRateLimitStore['incr']>[1]

/**
 * One budget per client for the whole cluster: @fastify/rate-limit's own Redis store (an
 * atomic INCR + PEXPIRE script under the key prefix). While Redis is down or a count fails,
 * this replica counts alone in its bounded memory store, as a single process does.
 */
class RedisRateLimitStore implements FastifyRateLimitStore {
  constructor (private readonly link: RedisLink, private readonly shared: FastifyRateLimitStore, private readonly local: FastifyRateLimitStore) {}

  incr (key: string, callback: Callback, timeWindow: number, max: number): void {
    if (!this.link.isUp()) return this.local.incr(key, callback, timeWindow, max)
    this.shared.incr(key, (error, result) => {
      if (error === null) return callback(null, result)
      this.link.reportFailure(error)
      this.local.incr(key, callback, timeWindow, max)
    }, timeWindow, max)
  }

  child (routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
    return new RedisRateLimitStore(this.link, this.shared.child(routeOptions), this.local.child(routeOptions))
  }
}

/** The store class @fastify/rate-limit constructs with its options. */
export function redisRateLimitStore (link: RedisLink, local: BoundedStoreOptions): FastifyRateLimitStoreCtor {
  return class extends RedisRateLimitStore {
    // plain fixed windows, as rate-limit.ts configures them: neither continueExceeding nor exponentialBackoff
    constructor () {
      super(link, new RedisStore(false, false, link.client, 'rate-limit:'), new BoundedRateLimitStore(local))
    }
  }
}
