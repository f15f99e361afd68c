import { isIP } from 'node:net'
import { z } from 'zod'
import { describeIssue, plainWords } from './issue-messages.js'

/** The four settings that point the service at the real vendor; all or none. */
export const VENDOR_SETTINGS = ['VENDOR_BASE_URL', 'VENDOR_APP_ID', 'VENDOR_APP_SECRET', 'VENDOR_SIGN_KEY'] as const

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

/** Every setting, by its variable's name: its type, bounds and default. docs/operations.md's table is tested against it. */
export const SETTINGS = z.object({
  NODE_ENV: z.string().optional(),
  PORT: int(0, 65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  VENDOR_BASE_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .refine(hasNoCredentials, 'must not contain a user or password: credentials do not belong in the URL (they would reach logs)')
    .optional(),
  VENDOR_APP_ID: z.string().optional(),
  VENDOR_APP_SECRET: z.string().optional(),
  VENDOR_SIGN_KEY: z.string().optional(),
  VENDOR_TIMEOUT_MS: int(100, 120_000).default(5000),
  VENDOR_MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  // resilience (see README: caching, retries, circuit breaker, load shedding)
  CACHE_ENABLED: z.enum(['true', 'false']).default('true').transform((value) => value === 'true'),
  CACHE_MAX_ENTRIES: int(1, 10_000_000).default(10_000),
  // a small share of the default MAX_RSS_BYTES, so a full cache never makes the service shed load
  CACHE_MAX_BYTES: int(1024 * 1024, Number.MAX_SAFE_INTEGER).default(64 * 1024 * 1024),
  CACHE_FRESH_MS: int(0, 3_600_000).default(1000),
  CACHE_TERMINAL_MS: int(0, 86_400_000).default(300_000),
  CACHE_NOT_FOUND_MS: int(0, 3_600_000).default(2000),
  CACHE_STALE_MS: int(0, 86_400_000).default(60_000),
  VENDOR_MAX_RETRIES: int(0, 5).default(2),
  VENDOR_RETRY_BASE_MS: int(1, 10_000).default(50),
  VENDOR_RETRY_BUDGET_RATIO: z.coerce.number().min(0).max(1).default(0.1),
  VENDOR_RETRY_BUDGET_FLOOR: int(0, 10_000).default(10),
  BREAKER_THRESHOLD_PERCENT: int(1, 100).default(50),
  BREAKER_MIN_CALLS: int(1, 10_000).default(10),
  BREAKER_WINDOW_MS: int(1000, 600_000).default(10_000),
  BREAKER_COOLDOWN_MS: int(100, 600_000).default(10_000),
  VENDOR_MAX_CONCURRENCY: int(1, 10_000).default(64),
  VENDOR_MAX_QUEUE: int(0, 100_000).default(64),
  // process bounds
  REQUEST_TIMEOUT_MS: int(1000, 600_000).default(30_000),
  // each connection holds a file descriptor: 800 leaves room under the common 1024 limit for the vendor pool, metrics and logs
  MAX_CONNECTIONS: int(1, 1_000_000).default(800),
  MAX_EVENT_LOOP_DELAY_MS: int(0, 60_000).default(1000),
  MAX_RSS_BYTES: int(0, Number.MAX_SAFE_INTEGER).default(1024 * 1024 * 1024),
  SHUTDOWN_DELAY_MS: int(0, 120_000).optional(),
  API_KEYS: list(ApiKey).optional(),
  TRUST_PROXY: TrustProxy.default(false),
  RATE_LIMIT_MAX: int(1, 1_000_000).default(120),
  RATE_LIMIT_WINDOW_MS: int(1000, 24 * 60 * 60 * 1000).default(60_000),
  CORS_ORIGINS: list(Origin).optional(),
  // OpenTelemetry's Prometheus-exporter port; 9090 is Prometheus' own
  METRICS_PORT: int(0, 65535).default(9464),
  METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  // scale-out: what replicas share (see docs/operations.md, Running several replicas)
  REDIS_URL: RedisUrl.optional(),
  REDIS_KEY_PREFIX: z.string().min(1).max(64).regex(/^[A-Za-z0-9:._-]+$/, 'must be letters, digits and : . _ - only').default('vending-bff:'),
  REDIS_TIMEOUT_MS: int(10, 10_000).default(250),
  // live tracking
  CALLBACK_TOKEN: z.string().min(32).regex(/^[A-Za-z0-9._~-]+$/, 'must be URL-safe: letters, digits and - . _ ~ only').optional(),
  EVENTS_MAX_STREAMS: int(0, 1_000_000).default(500),
  EVENTS_MAX_PER_CLIENT: int(1, 10_000).default(16),
  EVENTS_MAX_DURATION_MS: int(10_000, 86_400_000).default(600_000)
})

// The Config every module reads, built from the parsed settings: its type is this function's.
function toConfig (e: z.output<typeof SETTINGS>) {
  const production = e.NODE_ENV === 'production'
  return {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    production,
    /** null: no vendor configured, run on the embedded simulator (never in production) */
    vendor: vendorOf(e),
    /** total deadline of one request's vendor work: queueing, every attempt and backoff */
    vendorTimeoutMs: e.VENDOR_TIMEOUT_MS,
    vendorMaxBodyBytes: e.VENDOR_MAX_BODY_BYTES,
    resilience: {
      cache: {
        enabled: e.CACHE_ENABLED,
        maxEntries: e.CACHE_MAX_ENTRIES,
        /** bound on the cached answers' estimated heap bytes, besides the entry count */
        maxBytes: e.CACHE_MAX_BYTES,
        freshMs: e.CACHE_FRESH_MS,
        terminalMs: e.CACHE_TERMINAL_MS,
        notFoundMs: e.CACHE_NOT_FOUND_MS,
        staleMs: e.CACHE_STALE_MS
      },
      retry: {
        maxRetries: e.VENDOR_MAX_RETRIES,
        baseDelayMs: e.VENDOR_RETRY_BASE_MS,
        budgetRatio: e.VENDOR_RETRY_BUDGET_RATIO,
        budgetFloor: e.VENDOR_RETRY_BUDGET_FLOOR
      },
      breaker: {
        thresholdPercent: e.BREAKER_THRESHOLD_PERCENT,
        minCalls: e.BREAKER_MIN_CALLS,
        windowMs: e.BREAKER_WINDOW_MS,
        cooldownMs: e.BREAKER_COOLDOWN_MS
      },
      vendorConcurrency: e.VENDOR_MAX_CONCURRENCY,
      vendorQueue: e.VENDOR_MAX_QUEUE
    },
    limits: {
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      /** open client connections beyond which a new one is answered 503 and closed */
      maxConnections: e.MAX_CONNECTIONS,
      maxEventLoopDelayMs: e.MAX_EVENT_LOOP_DELAY_MS,
      maxRssBytes: e.MAX_RSS_BYTES,
      // readiness fails this long before the listener closes; a developer's Ctrl-C should not wait
      shutdownDelayMs: e.SHUTDOWN_DELAY_MS ?? (production ? 5000 : 0)
    },
    /** bearer tokens accepted on /orders; empty: client authentication is off */
    apiKeys: [...new Set(e.API_KEYS ?? [])],
    /** Fastify's trustProxy: the proxies whose X-Forwarded-For names the client; false: none */
    trustProxy: e.TRUST_PROXY,
    rateLimitMax: e.RATE_LIMIT_MAX,
    rateLimitWindowMs: e.RATE_LIMIT_WINDOW_MS,
    /** exact origins allowed by CORS; null when unset (none, or all in demo mode) */
    corsOrigins: e.CORS_ORIGINS ?? null,
    metricsPort: e.METRICS_PORT,
    metricsHost: e.METRICS_HOST,
    /** shared state for a fleet of replicas; null: every replica works alone, in memory */
    redis: e.REDIS_URL === undefined
      ? null
      : { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX, commandTimeoutMs: e.REDIS_TIMEOUT_MS },
    /** the path secret of POST /callbacks/delivery/{token}; null: the route does not exist */
    callbackToken: e.CALLBACK_TOKEN ?? null,
    events: {
      /** open event streams in this process; one more is a 503 */
      maxStreams: e.EVENTS_MAX_STREAMS,
      /** open event streams per API key (or client address) */
      maxPerClient: e.EVENTS_MAX_PER_CLIENT,
      /** a stream is closed after this; the client reconnects with Last-Event-ID */
      maxDurationMs: e.EVENTS_MAX_DURATION_MS
    }
  }
}

function vendorOf (e: z.output<typeof SETTINGS>) {
  const { VENDOR_BASE_URL: baseUrl, VENDOR_APP_ID: appId, VENDOR_APP_SECRET: appSecret, VENDOR_SIGN_KEY: signKey } = e
  return baseUrl !== undefined && appId !== undefined && appSecret !== undefined && signKey !== undefined
    ? { baseUrl, appId, appSecret, signKey }
    : null
}

/** Environment (empty strings already dropped) → Config; also refuses what no single setting can judge alone. */
export const ConfigSchema = SETTINGS
  .check((payload) => {
    const { PORT, METRICS_PORT } = payload.value
    if (METRICS_PORT !== 0 && METRICS_PORT === PORT) {
      payload.issues.push({ code: 'custom', input: METRICS_PORT, path: ['METRICS_PORT'], message: 'must differ from PORT, so metrics are never served with the API' })
    }
  })
  .transform(toConfig)

export type Config = z.output<typeof ConfigSchema>
export type VendorSettings = NonNullable<Config['vendor']>
export type ResilienceConfig = Config['resilience']
export type LimitsConfig = Config['limits']

/** Problems with the four vendor settings, which are judged together, from which of them are present. */
function vendorProblems (present: Record<string, string>): string[] {
  const missing = VENDOR_SETTINGS.filter((name) => present[name] === undefined)
  if (missing.length > 0 && missing.length < VENDOR_SETTINGS.length) {
    return [`${missing.join(', ')}: missing; the vendor settings ${VENDOR_SETTINGS.join(', ')} must be set together`]
  }
  if (missing.length > 0 && present.NODE_ENV === 'production') {
    return [`${missing.join(', ')}: missing; NODE_ENV=production refuses to fall back to the embedded simulator`]
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
  const problems = [...parsed.success ? [] : parsed.error.issues.map(describeIssue), ...vendorProblems(present)]
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems)
  return parsed.data
}
