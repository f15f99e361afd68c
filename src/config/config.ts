import { isIP } from 'node:net'
import { z } from 'zod'
import { placeholderReason, type PlaceholderKind } from './placeholders.js'
import { describeIssue, plainWords } from './setting-problems.js'

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max)

/** A comma-separated list; blanks around and between entries are dropped. */
const list = (entry: z.ZodString) =>
  z.string().transform((value) => value.split(',').map((item) => item.trim()).filter((item) => item !== '')).pipe(z.array(entry))

// keys travel in an Authorization header: token characters only (hex, base64 and base64url keys fit)
const ApiKey = z.string()
  .min(32)
  .regex(/^[A-Za-z0-9._~+/-]+=*$/, 'must be letters, digits and - . _ ~ + / only')

const Origin = z.string().refine((value) => {
  try {
    const url = new URL(value)
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value
  } catch {
    return false
  }
}, 'must be an exact origin such as https://app.example.com (no path, no trailing slash)')

// proxy-addr's names for address ranges, besides addresses and CIDRs
const PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal'])

function isProxyAddress (value: string): boolean {
  if (PROXY_RANGES.has(value) || isIP(value) !== 0) return true
  const [address = '', bits, ...rest] = value.split('/')
  const version = isIP(address)
  return version !== 0 && rest.length === 0 && /^\d{1,3}$/.test(bits ?? '') && Number(bits) <= (version === 4 ? 32 : 128)
}

// trusting every hop would make the left-most X-Forwarded-For entry, which the client writes, its address
const TrustProxy = z.string().transform((value, ctx): false | string[] => {
  if (value === 'false') return false
  if (value === 'true') {
    ctx.addIssue({ code: 'custom', message: 'true trusts whatever any client writes in X-Forwarded-For; list your proxies\' addresses or CIDRs instead (loopback for a proxy on this machine)' })
    return z.NEVER
  }
  // Fastify 5 ignores hop counts (it cannot tell a proxy from a client claiming extra hops)
  if (/^\d+$/.test(value)) {
    ctx.addIssue({ code: 'custom', message: 'a hop count is not supported (Fastify trusts no one with it); list the proxies\' addresses or CIDRs' })
    return z.NEVER
  }
  const proxies = value.split(',').map((item) => item.trim()).filter((item) => item !== '')
  if (proxies.length > 0 && proxies.every(isProxyAddress)) return proxies
  ctx.addIssue({ code: 'custom', message: 'must be false or a comma-separated list of the proxies\' addresses or CIDRs' })
  return z.NEVER
})

const RedisUrl = z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL (a password goes in it: redis://:password@host:6379/0)' })

// one entry of REDIS_SENTINELS or REDIS_CLUSTER_NODES: host:port, or [ipv6]:port
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/
const HostPort = z.string().refine((value) => {
  const port = Number(HOST_PORT.exec(value)?.[1])
  return port >= 1 && port <= 65535
}, 'must be host:port, such as redis-1.internal:26379 ([fd00::7]:26379 for an IPv6 address)')

/** A comma-separated list of host:port, at least one. */
const Addresses = list(HostPort).refine((entries) => entries.length > 0, 'must name at least one host:port')

/** `[fd00::7]:6379` → `{ host: 'fd00::7', port: 6379 }`, as ioredis takes sentinels and seed nodes. */
function toAddress (entry: string): { host: string, port: number } {
  const at = entry.lastIndexOf(':')
  return { host: entry.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(entry.slice(at + 1)) }
}

// an unparseable value is the URL check's to report
function hasNoCredentials (value: string): boolean {
  const url = URL.parse(value)
  return url === null || (url.username === '' && url.password === '')
}

// a secret the whole fleet shares (HMAC-SHA256's key): at least 32 characters; `openssl rand -hex 32` gives 64
const SigningKey = z.string().min(32, 'must be at least 32 characters: openssl rand -hex 32')

/** One setting: its environment variable and the schema of its value (type, bounds, default). */
interface Setting<S extends z.ZodType = z.ZodType> {
  readonly variable: string
  readonly schema: S
}

interface SettingTree { readonly [field: string]: Setting | SettingTree }

/** The values of a tree of settings, shaped as the tree. */
type ValuesOf<T> = { -readonly [K in keyof T]: T[K] extends Setting<infer S> ? z.output<S> : ValuesOf<T[K]> }

const setting = <S extends z.ZodType>(variable: string, schema: S): Setting<S> => ({ variable, schema })
const isSetting = (node: Setting | SettingTree): node is Setting => node.schema instanceof z.ZodType

/**
 * Every setting, where the Config holds its value: the only place a variable is named. In the
 * order problems are reported; docs/operations.md's table is tested against it.
 */
const SETTING_TREE = {
  // a typo such as `prod` would otherwise run as demo or development, silently: demo allows every CORS origin
  nodeEnv: setting('NODE_ENV', z.enum(['production', 'development', 'test'], 'must be production, development or test, or unset').optional()),
  port: setting('PORT', int(0, 65535).default(3000)),
  host: setting('HOST', z.string().min(1).default('0.0.0.0')),
  logLevel: setting('LOG_LEVEL', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  /** all four or none (vendorProblems); none: run on the embedded simulator (never in production) */
  vendor: {
    baseUrl: setting('VENDOR_BASE_URL', z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .refine(hasNoCredentials, 'must not contain a user or password: credentials do not belong in the URL (they would reach logs)')
      .optional()),
    appId: setting('VENDOR_APP_ID', z.string().optional()),
    appSecret: setting('VENDOR_APP_SECRET', z.string().optional()),
    signKey: setting('VENDOR_SIGN_KEY', z.string().optional())
  },
  /** total deadline of one request's vendor work: queueing, every attempt and backoff */
  vendorTimeoutMs: setting('VENDOR_TIMEOUT_MS', int(100, 120_000).default(5000)),
  vendorMaxBodyBytes: setting('VENDOR_MAX_BODY_BYTES', int(1024, 64 * 1024 * 1024).default(1024 * 1024)),
  // see README: caching, retries, circuit breaker, load shedding
  resilience: {
    cache: {
      enabled: setting('CACHE_ENABLED', z.enum(['true', 'false']).default('true').transform((value) => value === 'true')),
      maxEntries: setting('CACHE_MAX_ENTRIES', int(1, 10_000_000).default(10_000)),
      /** bound on the cached answers' estimated heap bytes, besides the entry count; a small share of the default MAX_RSS_BYTES, so a full cache never makes the service shed load */
      maxBytes: setting('CACHE_MAX_BYTES', int(1024 * 1024, Number.MAX_SAFE_INTEGER).default(16 * 1024 * 1024)),
      freshMs: setting('CACHE_FRESH_MS', int(0, 3_600_000).default(1000)),
      terminalMs: setting('CACHE_TERMINAL_MS', int(0, 86_400_000).default(300_000)),
      notFoundMs: setting('CACHE_NOT_FOUND_MS', int(0, 3_600_000).default(2000)),
      staleMs: setting('CACHE_STALE_MS', int(0, 86_400_000).default(60_000))
    },
    retry: {
      maxRetries: setting('VENDOR_MAX_RETRIES', int(0, 5).default(2)),
      baseDelayMs: setting('VENDOR_RETRY_BASE_MS', int(1, 10_000).default(50)),
      budgetRatio: setting('VENDOR_RETRY_BUDGET_RATIO', z.coerce.number().min(0).max(1).default(0.1)),
      budgetFloor: setting('VENDOR_RETRY_BUDGET_FLOOR', int(0, 10_000).default(10))
    },
    breaker: {
      thresholdPercent: setting('BREAKER_THRESHOLD_PERCENT', int(1, 100).default(50)),
      minCalls: setting('BREAKER_MIN_CALLS', int(1, 10_000).default(10)),
      windowMs: setting('BREAKER_WINDOW_MS', int(1000, 600_000).default(10_000)),
      cooldownMs: setting('BREAKER_COOLDOWN_MS', int(100, 600_000).default(10_000))
    },
    vendorConcurrency: setting('VENDOR_MAX_CONCURRENCY', int(1, 10_000).default(64)),
    vendorQueue: setting('VENDOR_MAX_QUEUE', int(0, 100_000).default(64)),
    /** vendor calls per second for the whole fleet (one budget in Redis with REDIS_URL), retries and polls included; 0: no budget */
    vendorCallsPerSecond: setting('VENDOR_MAX_CALLS_PER_SECOND', int(0, 100_000).default(20))
  },
  // process bounds
  limits: {
    requestTimeoutMs: setting('REQUEST_TIMEOUT_MS', int(1000, 600_000).default(30_000)),
    /** open client connections beyond which a new one is answered 503 and closed; each holds a file descriptor: 800 leaves room under the common 1024 limit for the vendor pool, metrics and logs */
    maxConnections: setting('MAX_CONNECTIONS', int(1, 1_000_000).default(800)),
    maxEventLoopDelayMs: setting('MAX_EVENT_LOOP_DELAY_MS', int(0, 60_000).default(1000)),
    maxRssBytes: setting('MAX_RSS_BYTES', int(0, Number.MAX_SAFE_INTEGER).default(1024 * 1024 * 1024)),
    /** readiness fails this long before the listener closes; unset: by mode (toConfig) */
    shutdownDelayMs: setting('SHUTDOWN_DELAY_MS', int(0, 120_000).optional())
  },
  /** bearer tokens accepted on /orders; none: client authentication is off */
  apiKeys: setting('API_KEYS', list(ApiKey).optional()),
  /** Fastify's trustProxy: the proxies whose X-Forwarded-For names the client; false: none */
  trustProxy: setting('TRUST_PROXY', TrustProxy.default(false)),
  rateLimitMax: setting('RATE_LIMIT_MAX', int(1, 1_000_000).default(120)),
  rateLimitWindowMs: setting('RATE_LIMIT_WINDOW_MS', int(1000, 24 * 60 * 60 * 1000).default(60_000)),
  /** exact origins allowed by CORS; unset: none, or all in demo mode */
  corsOrigins: setting('CORS_ORIGINS', list(Origin).optional()),
  // OpenTelemetry's Prometheus-exporter port; 9090 is Prometheus' own
  metricsPort: setting('METRICS_PORT', int(0, 65535).default(9464)),
  metricsHost: setting('METRICS_HOST', z.string().min(1).default('0.0.0.0')),
  /**
   * shared state for a fleet of replicas (docs/operations.md, Several replicas): one server by URL, the master a
   * Sentinel watches, or a Cluster; at most one of the three (redisProblems). None: every replica alone, in memory
   */
  redis: {
    url: setting('REDIS_URL', RedisUrl.optional()),
    sentinels: setting('REDIS_SENTINELS', Addresses.optional()),
    sentinelMaster: setting('REDIS_SENTINEL_MASTER', z.string().max(128).regex(/^[A-Za-z0-9._-]+$/, 'must be letters, digits and . _ - only (the name in the sentinels\' `sentinel monitor <name> ...`)').optional()),
    clusterNodes: setting('REDIS_CLUSTER_NODES', Addresses.optional()),
    /** with sentinels or cluster nodes (a URL carries its own): the Redis servers' ACL user and password, never logged */
    username: setting('REDIS_USERNAME', z.string().max(256).optional()),
    password: setting('REDIS_PASSWORD', z.string().max(4096).optional()),
    /** the sentinels' own password (their requirepass), when they have one */
    sentinelPassword: setting('REDIS_SENTINEL_PASSWORD', z.string().max(4096).optional()),
    /** with sentinels or cluster nodes (a URL says it with rediss://): TLS to every server and sentinel */
    tls: setting('REDIS_TLS', z.enum(['true', 'false']).default('false').transform((value) => value === 'true')),
    keyPrefix: setting('REDIS_KEY_PREFIX', z.string().min(1).max(64).regex(/^[A-Za-z0-9:._-]+$/, 'must be letters, digits and : . _ - only').default('vending-bff:')),
    commandTimeoutMs: setting('REDIS_TIMEOUT_MS', int(10, 10_000).default(250))
  },
  /** the path secret of POST /callbacks/delivery/{token}; unset: the route does not exist */
  callbackToken: setting('CALLBACK_TOKEN', z.string().min(32).regex(/^[A-Za-z0-9._~-]+$/, 'must be URL-safe: letters, digits and - . _ ~ only').optional()),
  events: {
    /** open event streams in this process; one more is a 503 */
    maxStreams: setting('EVENTS_MAX_STREAMS', int(0, 1_000_000).default(500)),
    /** open event streams per API key (or client address) */
    maxPerClient: setting('EVENTS_MAX_PER_CLIENT', int(1, 10_000).default(16)),
    /** a stream is closed after this; the client reconnects with Last-Event-ID */
    maxDurationMs: setting('EVENTS_MAX_DURATION_MS', int(10_000, 86_400_000).default(600_000))
  },
  /**
   * What a replica takes from Redis (docs/redis-trust.md): values and messages signed with the fleet's key
   * (none outside production: a random key of this process's own), and the round trip past which Redis counts as slow
   */
  redisTrust: {
    signingKey: setting('REDIS_SIGNING_KEY', SigningKey.optional()),
    /** the key before a rotation: what it signed is still accepted; nothing is signed with it */
    previousSigningKey: setting('REDIS_SIGNING_KEY_PREVIOUS', SigningKey.optional()),
    slowMs: setting('REDIS_SLOW_MS', int(1, 10_000).default(50))
  }
} satisfies SettingTree

function settingsOf (tree: SettingTree): Setting[] {
  return Object.values(tree).flatMap((node) => isSetting(node) ? [node] : settingsOf(node))
}

/** Every setting, by its variable's name: its type, bounds and default. */
export const SETTINGS = z.object(Object.fromEntries(settingsOf(SETTING_TREE).map(({ variable, schema }) => [variable, schema])))

/** The four settings that point the service at the real vendor; all or none. */
export const VENDOR_SETTINGS = settingsOf(SETTING_TREE.vendor).map(({ variable }) => variable)

function valuesOf<T extends SettingTree> (tree: T, parsed: Record<string, unknown>): ValuesOf<T> {
  return Object.fromEntries(Object.entries(tree).map(([field, node]) => [field, isSetting(node) ? parsed[node.variable] : valuesOf(node, parsed)])) as ValuesOf<T>
}

// The Config every module reads: the settings' values shaped as SETTING_TREE, with what they leave to be derived.
function toConfig (parsed: Record<string, unknown>) {
  const { nodeEnv, vendor, limits, apiKeys, corsOrigins, redis, callbackToken, ...rest } = valuesOf(SETTING_TREE, parsed)
  const { baseUrl, appId, appSecret, signKey } = vendor
  const run = baseUrl !== undefined && appId !== undefined && appSecret !== undefined && signKey !== undefined
    ? { mode: nodeEnv === 'production' ? 'production' as const : 'development' as const, vendor: { baseUrl, appId, appSecret, signKey } }
    : { mode: 'demo' as const, vendor: null }
  return {
    ...rest,
    ...run,
    redisTrust: { ...rest.redisTrust, signingKey: rest.redisTrust.signingKey ?? null, previousSigningKey: rest.redisTrust.previousSigningKey ?? null },
    // a developer's Ctrl-C should not wait
    limits: { ...limits, shutdownDelayMs: limits.shutdownDelayMs ?? (run.mode === 'production' ? 5000 : 0) },
    apiKeys: [...new Set(apiKeys ?? [])],
    corsOrigins: corsOrigins ?? null,
    redis: toRedisSettings(redis),
    callbackToken: callbackToken ?? null
  }
}

/**
 * How to reach Redis: one server by URL, the master the sentinels name, or a Cluster's seed nodes;
 * null when none is set. redisProblems refuses any mix, so at most one applies.
 */
function toRedisSettings ({ url, sentinels, sentinelMaster, clusterNodes, username, password, sentinelPassword, tls, ...common }: ValuesOf<typeof SETTING_TREE.redis>) {
  const auth = { username: username ?? null, password: password ?? null, tls }
  if (url !== undefined) return { url, ...common }
  if (sentinels !== undefined && sentinelMaster !== undefined) {
    return { sentinels: sentinels.map(toAddress), sentinelMaster, sentinelPassword: sentinelPassword ?? null, ...auth, ...common }
  }
  if (clusterNodes !== undefined) return { clusterNodes: clusterNodes.map(toAddress), ...auth, ...common }
  return null
}

const { port: PORT, metricsPort: METRICS_PORT, nodeEnv: NODE_ENV, vendor: { baseUrl: VENDOR_BASE_URL }, redis: REDIS } = SETTING_TREE
const { signingKey: REDIS_SIGNING_KEY, previousSigningKey: REDIS_SIGNING_KEY_PREVIOUS } = SETTING_TREE.redisTrust

/** Environment (empty strings already dropped) → Config; also refuses what no single setting can judge alone. */
export const ConfigSchema = SETTINGS
  .check((payload) => {
    const port = payload.value[PORT.variable]
    const metricsPort = payload.value[METRICS_PORT.variable]
    if (metricsPort !== 0 && metricsPort === port) {
      payload.issues.push({ code: 'custom', input: metricsPort, path: [METRICS_PORT.variable], message: `must differ from ${PORT.variable}, so metrics are never served with the API` })
    }
  })
  .transform(toConfig)

export type Config = z.output<typeof ConfigSchema>
export type VendorSettings = NonNullable<Config['vendor']>
/**
 * How the service runs, decided by toConfig only: `demo` on the embedded simulator (no vendor
 * set), `production` with NODE_ENV=production (which refuses demo), else `development`.
 */
export type RunMode = Config['mode']
export type ResilienceConfig = Config['resilience']
export type LimitsConfig = Config['limits']

/** Problems with the four vendor settings, which are judged together, from which of them are present. */
function vendorProblems (present: Record<string, string>): string[] {
  const missing = VENDOR_SETTINGS.filter((name) => present[name] === undefined)
  if (missing.length > 0 && missing.length < VENDOR_SETTINGS.length) {
    return [`${missing.join(', ')}: missing; the vendor settings ${VENDOR_SETTINGS.join(', ')} must be set together`]
  }
  if (missing.length > 0 && present[NODE_ENV.variable] === 'production') {
    return [`${missing.join(', ')}: missing; ${NODE_ENV.variable}=production refuses to fall back to the embedded simulator`]
  }
  return []
}

/** The three ways to reach Redis, of which at most one may be set. */
const REDIS_MODES = [REDIS.url, REDIS.sentinels, REDIS.clusterNodes].map(({ variable }) => variable)

/**
 * Problems with the Redis settings that are judged together, from which of them are present:
 * one way to reach Redis at most, the sentinels with the master's name, and the credentials and
 * TLS settings only where a URL does not say them itself. Never echoes a value.
 */
function redisProblems (present: Record<string, string>): string[] {
  const has = (setting: Setting): boolean => present[setting.variable] !== undefined
  const problems: string[] = []
  const modes = REDIS_MODES.filter((name) => present[name] !== undefined)
  if (modes.length > 1) {
    problems.push(`${modes.join(', ')}: set together; set only one of ${REDIS.url.variable}, ${REDIS.sentinels.variable} (with ${REDIS.sentinelMaster.variable}) or ${REDIS.clusterNodes.variable}`)
  }
  if (has(REDIS.sentinels) && !has(REDIS.sentinelMaster)) {
    problems.push(`${REDIS.sentinelMaster.variable}: missing; ${REDIS.sentinels.variable} needs the name the sentinels monitor the master under`)
  }
  if (has(REDIS.sentinelMaster) && !has(REDIS.sentinels)) {
    problems.push(`${REDIS.sentinels.variable}: missing; ${REDIS.sentinelMaster.variable} is only read with the sentinels' addresses`)
  }
  if (has(REDIS.sentinelPassword) && !has(REDIS.sentinels)) {
    problems.push(`${REDIS.sentinelPassword.variable}: is for ${REDIS.sentinels.variable} only`)
  }
  const withoutUrl = `is for ${REDIS.sentinels.variable} or ${REDIS.clusterNodes.variable}`
  const inTheUrl: Array<[Setting, string]> = [
    [REDIS.username, `${withoutUrl}; with ${REDIS.url.variable} the user goes in the URL (redis://user:password@host:6379/0)`],
    [REDIS.password, `${withoutUrl}; with ${REDIS.url.variable} the password goes in the URL (redis://:password@host:6379/0)`],
    [REDIS.tls, `${withoutUrl}; with ${REDIS.url.variable} TLS is the rediss:// scheme`]
  ]
  const sentinelsOrCluster = has(REDIS.sentinels) || has(REDIS.sentinelMaster) || has(REDIS.clusterNodes)
  for (const [setting, message] of inTheUrl) {
    // REDIS_TLS=false says nothing a URL could contradict
    const said = setting === REDIS.tls ? present[setting.variable] === 'true' : has(setting)
    if (said && !sentinelsOrCluster) problems.push(`${setting.variable}: ${message}`)
  }
  if (has(REDIS.username) && !has(REDIS.password)) {
    problems.push(`${REDIS.username.variable}: set without ${REDIS.password.variable}; an ACL user signs in with its password`)
  }
  return problems
}

/** The settings the deploy examples hold placeholders for, and how each is read for one. */
const PLACEHOLDER_KINDS: Array<[string, PlaceholderKind]> = [
  ...VENDOR_SETTINGS.map((name): [string, PlaceholderKind] => [name, name === VENDOR_BASE_URL.variable ? 'url' : 'text']),
  [REDIS.url.variable, 'url'],
  [REDIS.sentinels.variable, 'addresses'],
  [REDIS.sentinelMaster.variable, 'text'],
  [REDIS.clusterNodes.variable, 'addresses'],
  [REDIS.username.variable, 'text'],
  [REDIS.password.variable, 'text'],
  [REDIS.sentinelPassword.variable, 'text'],
  [REDIS_SIGNING_KEY.variable, 'text'],
  [REDIS_SIGNING_KEY_PREVIOUS.variable, 'text']
]

/**
 * In production, vendor and Redis settings (signing keys too) still on the deploy examples'
 * placeholders (API_KEYS and CALLBACK_TOKEN are refused by their formats: REPLACE_ME is too
 * short): named, never echoed.
 */
function placeholderProblems (present: Record<string, string>): string[] {
  if (present[NODE_ENV.variable] !== 'production') return []
  return PLACEHOLDER_KINDS.flatMap(([name, kind]) => {
    const value = present[name]
    const reason = value === undefined ? undefined : placeholderReason(value, kind)
    return reason === undefined ? [] : [`${name}: ${reason}; ${NODE_ENV.variable}=production needs the real value`]
  })
}

/**
 * The signing key: required in production wherever Redis is configured (`redis` not null: so it
 * follows whatever settings configure Redis), else a forged value would be served as ours; and no
 * previous key without a current one.
 */
function signingKeyProblems (present: Record<string, string>, redisConfigured: boolean): string[] {
  const key = REDIS_SIGNING_KEY.variable
  if (present[key] === undefined && present[REDIS_SIGNING_KEY_PREVIOUS.variable] !== undefined) {
    return [`${REDIS_SIGNING_KEY_PREVIOUS.variable}: set without ${key}; the previous key only verifies, ${key} signs`]
  }
  if (present[key] === undefined && redisConfigured && present[NODE_ENV.variable] === 'production') {
    return [`${key}: missing; ${NODE_ENV.variable}=production with Redis needs the fleet's shared signing key (openssl rand -hex 32), so no value in Redis is served unless a replica wrote it`]
  }
  return []
}

/**
 * Environment → typed Config. Every problem is reported at once, by variable name; values are
 * never echoed, since some of them are secrets.
 */
export function loadConfig (env: Record<string, string | undefined>): Config {
  // empty strings count as unset, so `FOO=` in an env file behaves like no FOO at all
  const present = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''))
  const parsed = ConfigSchema.safeParse(present, { error: plainWords(SETTINGS.shape) })
  const redisConfigured = parsed.success ? parsed.data.redis !== null : REDIS_MODES.some((name) => present[name] !== undefined)
  const problems = [
    ...parsed.success ? [] : parsed.error.issues.map(describeIssue),
    ...vendorProblems(present),
    ...redisProblems(present),
    ...placeholderProblems(present),
    ...signingKeyProblems(present, redisConfigured)
  ]
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems)
  return parsed.data
}
