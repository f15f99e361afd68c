import { createRequire } from 'node:module'
import type { Redis as RedisClient, RedisOptions } from 'ioredis'

export interface RedisSettings {
  /** redis:// or rediss://, password included: never logged */
  url: string
  /** before every key and channel, so deployments can share a server */
  keyPrefix: string
  /** every command's deadline */
  commandTimeoutMs: number
}

export interface LinkLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
}

/** How often a replica that lost Redis checks whether it is back (a PING). */
export const RECHECK_EVERY_MS = 1000

/**
 * The service's connection to the Redis replicas share: a command connection (keys get the
 * prefix) and a subscriber connection (pub/sub needs one of its own). Whether Redis is usable
 * is one flag: up once both connections are ready and a PING answered; down as soon as either
 * closes or any command fails or times out, then a PING every second brings it back. While it
 * is down, callers use their in-memory fallbacks instead of waiting on Redis. Each change is
 * logged once; the URL never is.
 */
export function createRedisLink (settings: RedisSettings, log: LinkLog, onState: (up: boolean) => void = () => {}) {
  // loaded through require when first needed: OpenTelemetry's ioredis instrumentation (src/observability/tracing.ts,
  // started before the app is built) patches require, not ESM imports, and only what is loaded after it
  const { Redis } = createRequire(import.meta.url)('ioredis') as { Redis: new (url: string, options: RedisOptions) => RedisClient }
  const options: RedisOptions = {
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: Math.max(1000, 4 * settings.commandTimeoutMs),
    // a command while disconnected fails at once rather than queueing until Redis returns
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // reconnect for as long as the process runs, at most a second apart
    retryStrategy: (attempt) => Math.min(100 * attempt, RECHECK_EVERY_MS),
    lazyConnect: true
  }
  const client = new Redis(settings.url, { ...options, keyPrefix: settings.keyPrefix })
  // subscriptions are made again on every reconnection, below
  const subscriber = new Redis(settings.url, { ...options, autoResubscribe: false })
  const handlers = new Map<string, (message: string) => void>()
  const downListeners = new Set<() => void>()
  let up = false
  let closing = false
  let recheck: NodeJS.Timeout | undefined

  function setUp (next: boolean, reason: string): void {
    if (next === up) return
    up = next
    onState(up)
    if (up) {
      log.info({ redis: 'up' }, 'Redis reachable: cache, coalescing and rate limits are shared again')
    } else {
      log.warn({ redis: 'down', reason }, 'Redis unreachable or slow: this replica answers from its own memory until it is back')
      for (const listener of downListeners) listener()
    }
    if (!up && !closing) scheduleRecheck()
  }

  function scheduleRecheck (): void {
    if (recheck !== undefined) return
    recheck = setInterval(() => { check().catch(() => {}) }, RECHECK_EVERY_MS)
    recheck.unref()
  }

  async function check (): Promise<void> {
    if (client.status !== 'ready' || subscriber.status !== 'ready') return
    try {
      await client.ping()
      clearInterval(recheck)
      recheck = undefined
      setUp(true, 'ping answered')
    } catch (error) {
      setUp(false, reasonOf(error))
    }
  }

  function onReady (): void { check().catch(() => {}) }
  function onClose (): void { setUp(false, 'connection closed') }
  // ioredis emits an error per failed reconnection: the state change above is the log line
  function ignore (): void {}
  for (const connection of [client, subscriber]) {
    connection.on('ready', onReady).on('close', onClose).on('error', ignore)
  }
  subscriber.on('ready', () => {
    const channels = [...handlers.keys()]
    if (channels.length > 0) subscriber.subscribe(...channels).catch((error: unknown) => { setUp(false, reasonOf(error)) })
  })
  subscriber.on('message', (channel: string, message: string) => { handlers.get(channel)?.(message) })

  return {
    client,
    commandTimeoutMs: settings.commandTimeoutMs,
    /** true while Redis answers; false: use the in-memory fallback */
    isUp: (): boolean => up,
    /** a command failed or timed out: Redis counts as down until a PING answers */
    reportFailure (error: unknown): void { setUp(false, reasonOf(error)) },
    /** told each time Redis goes down, so waiters stop waiting for a message that may not come */
    onDown (listener: () => void): void { downListeners.add(listener) },
    /** one handler per channel (prefixed here), subscribed now and again after every reconnection */
    subscribe (channel: string, handler: (message: string) => void): void {
      handlers.set(settings.keyPrefix + channel, handler)
      if (subscriber.status === 'ready') subscriber.subscribe(settings.keyPrefix + channel).catch((error: unknown) => { setUp(false, reasonOf(error)) })
    },
    /** publishes on a prefixed channel; false (and Redis marked down) when it could not */
    async publish (channel: string, message: string): Promise<boolean> {
      if (!up) return false
      try {
        await client.publish(settings.keyPrefix + channel, message)
        return true
      } catch (error) {
        setUp(false, reasonOf(error))
        return false
      }
    },
    /** connects both; resolves whether or not Redis is there (the service starts either way) */
    async connect (): Promise<void> {
      scheduleRecheck()
      await Promise.allSettled([client.connect(), subscriber.connect()])
      await check()
    },
    async close (): Promise<void> {
      closing = true
      clearInterval(recheck)
      client.disconnect()
      subscriber.disconnect()
    }
  }
}

/** A failure's message only: ioredis errors name host and port, never the password, but nothing else of theirs is logged. */
function reasonOf (error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

export type RedisLink = ReturnType<typeof createRedisLink>
