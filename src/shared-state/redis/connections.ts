import { createRequire } from 'node:module'
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis'

export interface RedisAddress { host: string, port: number }

/** Where the shared Redis is and how to sign in; one of three ways (config.ts refuses any mix). Passwords are never logged. */
export type RedisSettings = {
  /** before every key and channel, so deployments can share a server */
  keyPrefix: string
  /** every command's deadline */
  commandTimeoutMs: number
} & (
  /** one server: redis:// or rediss://, user and password in it */
  | { url: string }
  /** the master the sentinels name, followed through failovers */
  | { sentinels: RedisAddress[], sentinelMaster: string, sentinelPassword: string | null } & Credentials
  /** a Redis Cluster, from some of its nodes; the others and the slots are discovered */
  | { clusterNodes: RedisAddress[] } & Credentials
)

interface Credentials {
  username: string | null
  password: string | null
  /** TLS to every server (and sentinel) */
  tls: boolean
}

/** How often a connection that was lost is tried again, at most; also the link's PING while Redis is down. */
export const RECHECK_EVERY_MS = 1000

export interface RedisConnections {
  /** the commands' connection, every key under the prefix: to the one server, the sentinels' master, or the cluster */
  commands: Redis | Cluster
  /**
   * A new connection for SUBSCRIBE, never prefixed. One server and Sentinel: it reconnects by itself (to
   * the master the sentinels name then). Cluster: it does not; each call picks the next node known, and
   * any node hears every PUBLISH (the cluster bus carries it to all of them).
   */
  subscriber: () => Redis
  /** resolves once everything the commands may reach answers a PING: the server, or the master of every cluster slot */
  probe: () => Promise<void>
}

interface IORedis {
  Redis: new (...args: [string, RedisOptions] | [RedisOptions]) => Redis
  Cluster: new (nodes: RedisAddress[], options: ClusterOptions) => Cluster
}

const CLUSTER_SLOTS = 16384

const retry = (attempt: number): number => Math.min(100 * attempt, RECHECK_EVERY_MS)

/**
 * The ioredis connections for the configured way to Redis. Every one fails a command at once while
 * disconnected rather than queueing it, never sends a failed command again on a new connection (a
 * lock or a count the caller already gave up on), and reconnects for as long as the process runs.
 */
export function openConnections (settings: RedisSettings): RedisConnections {
  // loaded through require when first needed: OpenTelemetry's ioredis instrumentation (src/observability/tracing.ts,
  // started before the app is built) patches require, not ESM imports, and only what is loaded after it
  const { Redis, Cluster } = createRequire(import.meta.url)('ioredis') as IORedis
  const common: RedisOptions = {
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: Math.max(1000, 4 * settings.commandTimeoutMs),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: retry,
    // a server that was demoted to replica under us: connect again (Sentinel: to the master the sentinels name now)
    reconnectOnError: (error) => error.message.startsWith('READONLY') ? 1 : false,
    lazyConnect: true
  }
  // subscriptions are made by the link on every (re)connection, once it knows the connection is there
  const subscriberOptions: RedisOptions = { ...common, autoResubscribe: false }

  if ('url' in settings) {
    return single(new Redis(settings.url, { ...common, keyPrefix: settings.keyPrefix }), () => new Redis(settings.url, subscriberOptions))
  }
  const credentials: RedisOptions = {
    ...settings.username === null ? {} : { username: settings.username },
    ...settings.password === null ? {} : { password: settings.password },
    ...settings.tls ? { tls: {} } : {}
  }
  if ('sentinels' in settings) {
    const sentinel: RedisOptions = {
      ...credentials,
      sentinels: settings.sentinels,
      name: settings.sentinelMaster,
      ...settings.sentinelPassword === null ? {} : { sentinelPassword: settings.sentinelPassword },
      ...settings.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {},
      sentinelCommandTimeout: common.connectTimeout!,
      sentinelRetryStrategy: retry,
      // told of +switch-master by the sentinels, so a failover is followed at once rather than at the next failed command
      failoverDetector: true,
      sentinelReconnectStrategy: retry
    }
    return single(new Redis({ ...common, ...sentinel, keyPrefix: settings.keyPrefix }), () => new Redis({ ...subscriberOptions, ...sentinel }))
  }

  const { retryStrategy, enableOfflineQueue, ...nodeOptions } = { ...common, ...credentials }
  const cluster = new Cluster(settings.clusterNodes, {
    keyPrefix: settings.keyPrefix,
    enableOfflineQueue,
    lazyConnect: true,
    clusterRetryStrategy: retryStrategy!,
    // a node that fails fails the command, within REDIS_TIMEOUT_MS, rather than waiting on the cluster to heal
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: 0,
    redisOptions: nodeOptions
  })
  // replicas given the same seeds spread their subscribers over them
  let next = Math.floor(Math.random() * settings.clusterNodes.length)
  return {
    commands: cluster,
    subscriber () {
      // the nodes the cluster knows now (masters and replicas), else the seeds it was given
      const known = cluster.nodes('all').map(({ options: { host = '', port = 0 } }) => ({ host, port }))
      const nodes = known.length > 0 ? known : settings.clusterNodes
      const node = nodes[next++ % nodes.length]!
      return new Redis({ ...subscriberOptions, ...credentials, ...node, retryStrategy: () => null })
    },
    async probe () {
      try {
        // the masters of the slot table: ioredis drops a lost node's connection from cluster.nodes() until the slots are asked for again
        const owners = new Set<string>()
        let served = 0
        for (const nodes of cluster.slots) {
          if (nodes?.[0] === undefined) continue
          served++
          owners.add(nodes[0])
        }
        if (served < CLUSTER_SLOTS) throw new Error(`${CLUSTER_SLOTS - served} of the cluster's slots have no master known`)
        const masters = new Map(cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]))
        await Promise.all([...owners].map(async (owner) => {
          const master = masters.get(owner)
          if (master === undefined) throw new Error(`cluster master ${owner} not connected`)
          await master.ping()
        }))
      } catch (error) {
        // the slots may have moved (a replica promoted) or a master's connection may be gone: asked again for the next try
        cluster.refreshSlotsCache(() => {})
        throw error
      }
    }
  }
}

function single (commands: Redis, subscriber: () => Redis): RedisConnections {
  return { commands, subscriber, probe: async () => { await commands.ping() } }
}
