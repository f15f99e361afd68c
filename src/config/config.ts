import { isIP } from 'node:net'
import { z } from 'zod'
import { placeholderReason } from './placeholders.js'
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
      maxBytes: setting('CACHE_MAX_BYTES', int(1024 * 1024, Number.MAX_SAFE_INTEGER).default(64 * 1024 * 1024)),
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
  /** shared state for a fleet of replicas (see docs/operations.md, Running several replicas); no URL: every replica works alone, in memory */
  redis: {
    url: setting('REDIS_URL', RedisUrl.optional()),
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
    redis: redis.url === undefined ? null : { ...redis, url: redis.url },
    callbackToken: callbackToken ?? null
  }
}

const { port: PORT, metricsPort: METRICS_PORT, nodeEnv: NODE_ENV, vendor: { baseUrl: VENDOR_BASE_URL } } = SETTING_TREE
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

/**
 * In production, vendor settings and Redis signing keys still on the deploy examples' placeholders, as
 * REDIS_URL, API_KEYS and CALLBACK_TOKEN are (REPLACE_ME fails their formats): named, never echoed.
 */
function placeholderProblems (present: Record<string, string>): string[] {
  if (present[NODE_ENV.variable] !== 'production') return []
  return [...VENDOR_SETTINGS, REDIS_SIGNING_KEY.variable, REDIS_SIGNING_KEY_PREVIOUS.variable].flatMap((name) => {
    const value = present[name]
    const reason = value === undefined ? undefined : placeholderReason(value, name === VENDOR_BASE_URL.variable ? 'url' : 'text')
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
  const redisConfigured = parsed.success ? parsed.data.redis !== null : present[SETTING_TREE.redis.url.variable] !== undefined
  const problems = [
    ...parsed.success ? [] : parsed.error.issues.map(describeIssue),
    ...vendorProblems(present),
    ...placeholderProblems(present),
    ...signingKeyProblems(present, redisConfigured)
  ]
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems)
  return parsed.data
}
