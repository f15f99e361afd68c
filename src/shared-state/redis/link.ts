import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { openConnections, RECHECK_EVERY_MS, type RedisSettings } from './connections.js'

export { RECHECK_EVERY_MS, type RedisSettings }

/** What `hearingEpoch()` answers while the link is down: no epoch in which every message is heard. */
export const NOT_HEARING = -1

export interface LinkLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
}

/**
 * The service's connection to the Redis replicas share, whichever way it is reached (one server,
 * Sentinel, Cluster: connections.ts): a command connection (keys get the prefix) and a subscriber
 * connection (pub/sub needs one of its own). Whether Redis is usable is one flag: up once the
 * commands are ready, the subscriber has every channel's SUBSCRIBE answered on its current
 * connection, and a PING answered (from every master, in a cluster); down as soon as either
 * connection closes or any command fails or times out, then a PING every second brings it back.
 * While it is down, callers use their in-memory fallbacks instead of waiting on Redis. Each change
 * is logged once; addresses, users and passwords never are.
 */
export function createRedisLink (settings: RedisSettings, log: LinkLog, onState: (up: boolean) => void = () => {}) {
  const connections = openConnections(settings)
  const client = connections.commands
  const handlers = new Map<string, (message: string) => void>()
  const downListeners = new Set<() => void>()
  let up = false
  let closing = false
  let recheck: NodeJS.Timeout | undefined
  let subscriber!: Redis
  // the current subscriber connection has answered SUBSCRIBE for every channel: a message published now is heard
  let subscribed = false
  // the subscriptions under way on the subscriber's latest connection
  let subscribing: Promise<void> = Promise.resolve()
  // a new one each time a message may have gone unheard: Redis down, or a subscription (re)made
  let epoch = 0

  function setUp (next: boolean, reason: string): void {
    if (next === up) return
    up = next
    onState(up)
    if (up) {
      log.info({ redis: 'up' }, 'Redis reachable: cache, coalescing and rate limits are shared again')
    } else {
      epoch++
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

  const connected = (): boolean => !closing && client.status === 'ready' && subscriber.status === 'ready' && subscribed

  async function check (): Promise<void> {
    if (!connected()) return
    try {
      await connections.probe()
    } catch (error) {
      setUp(false, reasonOf(error))
      return
    }
    // either connection may have closed while the PING was on its way
    if (!connected()) return
    clearInterval(recheck)
    recheck = undefined
    setUp(true, 'ping answered')
  }

  // ioredis emits an error per failed reconnection: the state change is the log line
  function ignore (): void {}
  client.on('ready', () => { check().catch(ignore) }).on('close', () => { setUp(false, 'connection closed') }).on('error', ignore)

  /** Subscribes every channel on a connection that is ready; up only once Redis answered, so no message can slip by unheard. */
  async function subscribeAll (connection: Redis): Promise<void> {
    const channels = [...handlers.keys()]
    try {
      if (channels.length > 0) await connection.subscribe(...channels)
    } catch (error) {
      if (connection === subscriber) setUp(false, reasonOf(error))
      return
    }
    if (connection !== subscriber || connection.status !== 'ready') return
    subscribed = true
    // what was published before this SUBSCRIBE's answer was not heard on this connection
    epoch++
    await check()
  }

  /** Makes `connection` the subscriber: subscribed on every (re)connection, replaced when it gives up (a cluster node gone). */
  function useSubscriber (connection: Redis): void {
    subscriber = connection
    subscribed = false
    connection
      .on('ready', () => { if (connection === subscriber) subscribing = subscribeAll(connection).catch(ignore) })
      .on('close', () => {
        if (connection !== subscriber) return
        subscribed = false
        setUp(false, 'subscriber connection closed')
      })
      .on('end', () => {
        if (connection !== subscriber || closing) return
        // a cluster's subscriber does not reconnect by itself: the next node known, in a moment
        setTimeout(() => {
          if (connection !== subscriber || closing) return
          useSubscriber(connections.subscriber())
          subscriber.connect().catch(ignore)
        }, RECHECK_EVERY_MS).unref()
      })
      .on('error', ignore)
      .on('message', (channel: string, message: string) => { if (connection === subscriber) handlers.get(channel)?.(message) })
  }
  useSubscriber(connections.subscriber())

  return {
    client,
    commandTimeoutMs: settings.commandTimeoutMs,
    /** true while Redis answers; false: use the in-memory fallback */
    isUp: (): boolean => up,
    /**
     * While the link is up, the epoch since which every message published on its channels has
     * been heard (pub/sub is at-most-once: what is sent while the subscriber is away is lost);
     * NOT_HEARING while it is down. A new epoch begins each time Redis goes down and each time
     * the subscriber (re)subscribes, so a copy kept in an earlier epoch may have missed a change.
     */
    hearingEpoch: (): number => up ? epoch : NOT_HEARING,
    /** a command failed or timed out: Redis counts as down until a PING answers */
    reportFailure (error: unknown): void { setUp(false, reasonOf(error)) },
    /** told each time Redis goes down, so waiters stop waiting for a message that may not come */
    onDown (listener: () => void): void { downListeners.add(listener) },
    /** one handler per channel (prefixed here), subscribed now and again after every reconnection */
    subscribe (channel: string, handler: (message: string) => void): void {
      handlers.set(settings.keyPrefix + channel, handler)
      if (subscriber.status === 'ready') subscriber.subscribe(settings.keyPrefix + channel).then(() => { epoch++ }, (error: unknown) => { setUp(false, reasonOf(error)) })
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
    /**
     * Connects both; resolves whether or not Redis is there (the service starts either way), within
     * about a connect timeout: sentinels or cluster nodes that do not answer are tried again meanwhile.
     */
    async connect (): Promise<void> {
      scheduleRecheck()
      const connecting = (async () => {
        await Promise.allSettled([client.connect(), subscriber.connect()])
        await subscribing
      })()
      await Promise.race([connecting, sleep(Math.max(1000, 4 * settings.commandTimeoutMs), undefined, { ref: false })])
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
