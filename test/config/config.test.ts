import { readFileSync } from 'node:fs'
import t from 'tap'
import { z } from 'zod'
import { ConfigError, loadConfig, SETTINGS } from '../../src/config/config.js'

const VENDOR = {
  VENDOR_BASE_URL: 'https://vendor.example.test',
  VENDOR_APP_ID: 'app-id-secret-value',
  VENDOR_APP_SECRET: 'app-secret-value-xyz',
  VENDOR_SIGN_KEY: 'sign-key-value-abc'
}

function problemsOf (env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  throw new Error('expected a ConfigError')
}

t.test('defaults with nothing set: demo mode', async (t) => {
  const config = loadConfig({})
  t.same(config, {
    port: 3000,
    host: '0.0.0.0',
    logLevel: 'info',
    mode: 'demo',
    vendor: null,
    vendorTimeoutMs: 5000,
    vendorMaxBodyBytes: 1024 * 1024,
    resilience: {
      cache: { enabled: true, maxEntries: 10_000, maxBytes: 16 * 1024 * 1024, freshMs: 1000, terminalMs: 300_000, notFoundMs: 2000, staleMs: 60_000 },
      retry: { maxRetries: 2, baseDelayMs: 50, budgetRatio: 0.1, budgetFloor: 10 },
      breaker: { thresholdPercent: 50, minCalls: 10, windowMs: 10_000, cooldownMs: 10_000 },
      vendorConcurrency: 64,
      vendorQueue: 64,
      vendorCallsPerSecond: 20
    },
    limits: { requestTimeoutMs: 30_000, maxConnections: 800, maxEventLoopDelayMs: 1000, maxRssBytes: 1024 * 1024 * 1024, shutdownDelayMs: 0 },
    apiKeys: [],
    trustProxy: false,
    rateLimitMax: 120,
    rateLimitWindowMs: 60_000,
    corsOrigins: null,
    metricsPort: 9464,
    metricsHost: '0.0.0.0',
    redis: null,
    callbackToken: null,
    events: { maxStreams: 500, maxPerClient: 16, maxDurationMs: 600_000 },
    redisTrust: { signingKey: null, previousSigningKey: null, slowMs: 50 }
  })
})

t.test('VENDOR_MAX_CALLS_PER_SECOND: a whole number of calls a second, 0 for no budget', async (t) => {
  t.equal(loadConfig({ VENDOR_MAX_CALLS_PER_SECOND: '0' }).resilience.vendorCallsPerSecond, 0)
  t.equal(loadConfig({ VENDOR_MAX_CALLS_PER_SECOND: '150' }).resilience.vendorCallsPerSecond, 150)
  for (const bad of ['-1', '2.5', 'lots', '100001']) t.match(problemsOf({ VENDOR_MAX_CALLS_PER_SECOND: bad })[0], /^VENDOR_MAX_CALLS_PER_SECOND: /, bad)
})

t.test('the Redis signing keys: required in production with Redis, at least 32 characters, never echoed', async (t) => {
  const key = 'fleet-signing-key-' + 'k'.repeat(20)
  const previous = 'old-fleet-signing-key-' + 'p'.repeat(20)
  const redis = { REDIS_URL: 'redis://cache:6379' }
  t.same(loadConfig({ ...VENDOR, ...redis, NODE_ENV: 'production', REDIS_SIGNING_KEY: key, REDIS_SIGNING_KEY_PREVIOUS: previous, REDIS_SLOW_MS: '20' }).redisTrust,
    { signingKey: key, previousSigningKey: previous, slowMs: 20 })
  t.match(problemsOf({ ...VENDOR, ...redis, NODE_ENV: 'production' }), [/^REDIS_SIGNING_KEY: missing; NODE_ENV=production with Redis needs the fleet's shared signing key/])
  t.equal(loadConfig({ ...VENDOR, NODE_ENV: 'production' }).redisTrust.signingKey, null, 'production without Redis has nothing to sign')
  t.equal(loadConfig({ ...VENDOR, ...redis }).redisTrust.signingKey, null, 'development may go without: a key of the process\'s own')
  const short = 'short-secret-value'
  const problems = problemsOf({ ...redis, REDIS_SIGNING_KEY: short, REDIS_SIGNING_KEY_PREVIOUS: short })
  t.same(problems.map((problem) => problem.split(':')[0]), ['REDIS_SIGNING_KEY', 'REDIS_SIGNING_KEY_PREVIOUS'])
  t.match(problems[0], /at least 32 characters/)
  t.notMatch(problems.join('\n'), short, 'the value is not echoed')
  t.match(problemsOf({ ...redis, REDIS_SIGNING_KEY_PREVIOUS: previous }), [/^REDIS_SIGNING_KEY_PREVIOUS: set without REDIS_SIGNING_KEY/])
  const placeholder = `REPLACE_ME-${'x'.repeat(30)}`
  const refused = problemsOf({ ...VENDOR, ...redis, NODE_ENV: 'production', REDIS_SIGNING_KEY: placeholder, REDIS_SIGNING_KEY_PREVIOUS: placeholder })
  t.same(refused.map((problem) => problem.split(':')[0]), ['REDIS_SIGNING_KEY', 'REDIS_SIGNING_KEY_PREVIOUS'], 'the deploy examples\' placeholder, refused in production')
  t.notMatch(refused.join('\n'), 'xxxxx')
  t.match(problemsOf({ REDIS_SLOW_MS: '0' }), [/^REDIS_SLOW_MS/])
})

t.test('Redis, callback token and event-stream settings', async (t) => {
  const config = loadConfig({ REDIS_URL: 'rediss://:s3cret@cache.internal:6380/2', REDIS_KEY_PREFIX: 'bff-eu:', CALLBACK_TOKEN: 'a'.repeat(32), EVENTS_MAX_STREAMS: '10' })
  t.same(config.redis, { url: 'rediss://:s3cret@cache.internal:6380/2', keyPrefix: 'bff-eu:', commandTimeoutMs: 250 })
  t.equal(config.callbackToken, 'a'.repeat(32))
  t.equal(config.events.maxStreams, 10)
  const problems = problemsOf({ REDIS_URL: 'http://cache:6379', REDIS_KEY_PREFIX: 'has space', CALLBACK_TOKEN: 'short', EVENTS_MAX_DURATION_MS: '5' })
  for (const name of ['REDIS_URL', 'REDIS_KEY_PREFIX', 'CALLBACK_TOKEN', 'EVENTS_MAX_DURATION_MS']) {
    t.ok(problems.some((p) => p.startsWith(name)), name)
  }
  t.notOk(problems.join('\n').includes('short'), 'the token\'s value is not echoed')
})

t.test('Redis Sentinel: the sentinels\' addresses and the master\'s name, with the servers\' and the sentinels\' own credentials', async (t) => {
  const config = loadConfig({
    REDIS_SENTINELS: 'sentinel-1.internal:26379, [fd00::7]:26380,10.0.0.9:26379,redis_sentinel_2:26379',
    REDIS_SENTINEL_MASTER: 'mymaster',
    REDIS_USERNAME: 'bff',
    REDIS_PASSWORD: 'n0des-s3cret',
    REDIS_SENTINEL_PASSWORD: 'sent1nel-s3cret',
    REDIS_TLS: 'true',
    REDIS_KEY_PREFIX: 'bff-eu:'
  })
  t.same(config.redis, {
    sentinels: [{ host: 'sentinel-1.internal', port: 26379 }, { host: 'fd00::7', port: 26380 }, { host: '10.0.0.9', port: 26379 }, { host: 'redis_sentinel_2', port: 26379 }],
    sentinelMaster: 'mymaster',
    sentinelPassword: 'sent1nel-s3cret',
    username: 'bff',
    password: 'n0des-s3cret',
    tls: true,
    keyPrefix: 'bff-eu:',
    commandTimeoutMs: 250
  })
  t.same(loadConfig({ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm' }).redis, {
    sentinels: [{ host: 's', port: 26379 }], sentinelMaster: 'm', sentinelPassword: null, username: null, password: null, tls: false, keyPrefix: 'vending-bff:', commandTimeoutMs: 250
  }, 'no credentials, no TLS')
  t.same(problemsOf({ REDIS_SENTINELS: 's:26379' }), ['REDIS_SENTINEL_MASTER: missing; REDIS_SENTINELS needs the name the sentinels monitor the master under'])
  t.same(problemsOf({ REDIS_SENTINEL_MASTER: 'mymaster' }), ['REDIS_SENTINELS: missing; REDIS_SENTINEL_MASTER is only read with the sentinels\' addresses'])
  t.same(problemsOf({ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'my master' }), ['REDIS_SENTINEL_MASTER: must be letters, digits and . _ - only (the name in the sentinels\' `sentinel monitor <name> ...`)'])
})

t.test('Redis Cluster: seed nodes, with the servers\' credentials', async (t) => {
  t.same(loadConfig({ REDIS_CLUSTER_NODES: 'redis-0:6379,redis-1:6379', REDIS_PASSWORD: 'n0des-s3cret' }).redis, {
    clusterNodes: [{ host: 'redis-0', port: 6379 }, { host: 'redis-1', port: 6379 }], username: null, password: 'n0des-s3cret', tls: false, keyPrefix: 'vending-bff:', commandTimeoutMs: 250
  })
  for (const bad of ['redis-2', 'redis-2:0', 'redis-2:65536', 'redis 2:6379', 'fd00::7:6379', 'redis-2:6379/0', 'redis://redis-2:6379']) {
    t.match(problemsOf({ REDIS_CLUSTER_NODES: `redis-9:6379,${bad}` }), [/^REDIS_CLUSTER_NODES: the 2nd entry must be host:port, such as redis-1\.internal:26379/], bad)
  }
  t.same(problemsOf({ REDIS_CLUSTER_NODES: ' , ' }), ['REDIS_CLUSTER_NODES: must name at least one host:port'])
  t.match(problemsOf({ REDIS_SENTINELS: 'nope', REDIS_SENTINEL_MASTER: 'm' }), [/^REDIS_SENTINELS: the 1st entry must be host:port/])
})

t.test('one way to Redis at most, and credentials or TLS only where the URL cannot say them: each refusal names the settings, never a value', async (t) => {
  const url = 'redis://:url-s3cret@cache:6379'
  const sentinel = { REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'mymaster' }
  const one = 'set together; set only one of REDIS_URL, REDIS_SENTINELS (with REDIS_SENTINEL_MASTER) or REDIS_CLUSTER_NODES'
  t.same(problemsOf({ REDIS_URL: url, REDIS_CLUSTER_NODES: 'n:6379' }), [`REDIS_URL, REDIS_CLUSTER_NODES: ${one}`])
  t.same(problemsOf({ REDIS_URL: url, ...sentinel }), [`REDIS_URL, REDIS_SENTINELS: ${one}`])
  t.same(problemsOf({ ...sentinel, REDIS_CLUSTER_NODES: 'n:6379' }), [`REDIS_SENTINELS, REDIS_CLUSTER_NODES: ${one}`])
  t.same(problemsOf({ REDIS_URL: url, ...sentinel, REDIS_CLUSTER_NODES: 'n:6379' }), [`REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES: ${one}`])
  t.same(problemsOf({ REDIS_CLUSTER_NODES: 'n:6379', REDIS_SENTINEL_MASTER: 'mymaster' }), ['REDIS_SENTINELS: missing; REDIS_SENTINEL_MASTER is only read with the sentinels\' addresses'], 'a master\'s name is no cluster setting')
  t.same(problemsOf({ REDIS_URL: url, REDIS_USERNAME: 'bff', REDIS_PASSWORD: 'pw-s3cret', REDIS_TLS: 'true' }), [
    'REDIS_USERNAME: is for REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL the user goes in the URL (redis://user:password@host:6379/0)',
    'REDIS_PASSWORD: is for REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL the password goes in the URL (redis://:password@host:6379/0)',
    'REDIS_TLS: is for REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL TLS is the rediss:// scheme'
  ])
  t.equal(loadConfig({ REDIS_URL: url, REDIS_TLS: 'false' }).redis?.keyPrefix, 'vending-bff:', 'REDIS_TLS=false contradicts no URL')
  t.match(problemsOf({ REDIS_PASSWORD: 'pw-s3cret' }), [/^REDIS_PASSWORD: is for REDIS_SENTINELS or REDIS_CLUSTER_NODES/], 'a password for no Redis at all')
  t.same(problemsOf({ REDIS_CLUSTER_NODES: 'n:6379', REDIS_SENTINEL_PASSWORD: 'pw-s3cret' }), ['REDIS_SENTINEL_PASSWORD: is for REDIS_SENTINELS only'])
  t.same(problemsOf({ REDIS_CLUSTER_NODES: 'n:6379', REDIS_USERNAME: 'bff' }), ['REDIS_USERNAME: set without REDIS_PASSWORD; an ACL user signs in with its password'])
  t.same(problemsOf({ REDIS_TLS: 'yes', ...sentinel }), ['REDIS_TLS: must be true or false'])
  const all = problemsOf({ REDIS_URL: url, ...sentinel, REDIS_USERNAME: 'user-s3cret', REDIS_PASSWORD: 'pw-s3cret', REDIS_SENTINEL_PASSWORD: 'spw-s3cret', REDIS_PORT: 'x' }).join('\n')
  for (const secret of ['url-s3cret', 'user-s3cret', 'pw-s3cret', 'spw-s3cret']) t.notOk(all.includes(secret), 'no value is echoed')
  t.match(problemsOf({ REDIS_SENTINELS: 's:26379', PORT: 'x' }), ['PORT: must be a whole number from 0 to 65535', /^REDIS_SENTINEL_MASTER: missing/], 'reported with every other problem at once')
})

t.test('resilience settings are read and checked', async (t) => {
  const config = loadConfig({ CACHE_ENABLED: 'false', CACHE_FRESH_MS: '0', VENDOR_MAX_RETRIES: '0', VENDOR_RETRY_BUDGET_RATIO: '0.25', SHUTDOWN_DELAY_MS: '250' })
  t.equal(config.resilience.cache.enabled, false)
  t.equal(config.resilience.cache.freshMs, 0)
  t.equal(config.resilience.retry.maxRetries, 0)
  t.equal(config.resilience.retry.budgetRatio, 0.25)
  t.equal(config.limits.shutdownDelayMs, 250)
  t.equal(loadConfig({ NODE_ENV: 'production', ...VENDOR }).limits.shutdownDelayMs, 5000, 'production drains for 5 s by default')
  const problems = problemsOf({ CACHE_ENABLED: 'yes', VENDOR_MAX_RETRIES: '9', VENDOR_RETRY_BUDGET_RATIO: '2', BREAKER_THRESHOLD_PERCENT: '0' })
  for (const name of ['CACHE_ENABLED', 'VENDOR_MAX_RETRIES', 'VENDOR_RETRY_BUDGET_RATIO', 'BREAKER_THRESHOLD_PERCENT']) {
    t.ok(problems.some((p) => p.startsWith(name)), name)
  }
})

t.test('all four vendor settings give a vendor; numbers are parsed', async (t) => {
  const config = loadConfig({ ...VENDOR, PORT: '8080', VENDOR_TIMEOUT_MS: '2500', LOG_LEVEL: 'debug' })
  t.same(config.vendor, { baseUrl: VENDOR.VENDOR_BASE_URL, appId: VENDOR.VENDOR_APP_ID, appSecret: VENDOR.VENDOR_APP_SECRET, signKey: VENDOR.VENDOR_SIGN_KEY })
  t.equal(config.port, 8080)
  t.equal(config.vendorTimeoutMs, 2500)
  t.equal(config.logLevel, 'debug')
})

t.test('empty strings count as unset', async (t) => {
  t.equal(loadConfig({ PORT: '', VENDOR_BASE_URL: '' }).port, 3000)
})

t.test('partial vendor settings name every missing one', async (t) => {
  const problems = problemsOf({ VENDOR_BASE_URL: VENDOR.VENDOR_BASE_URL, VENDOR_APP_SECRET: VENDOR.VENDOR_APP_SECRET })
  t.equal(problems.length, 1)
  t.match(problems[0], /VENDOR_APP_ID, VENDOR_SIGN_KEY: missing/)
})

t.test('production refuses the simulator fallback and names the four settings', async (t) => {
  const problems = problemsOf({ NODE_ENV: 'production' })
  t.match(problems[0], /VENDOR_BASE_URL, VENDOR_APP_ID, VENDOR_APP_SECRET, VENDOR_SIGN_KEY: missing; NODE_ENV=production/)
  t.equal(loadConfig({ NODE_ENV: 'production', ...VENDOR }).mode, 'production')
})

t.test('the run mode is decided once: demo without a vendor, production with NODE_ENV=production, else development', async (t) => {
  t.equal(loadConfig({}).mode, 'demo')
  t.equal(loadConfig({ NODE_ENV: 'development' }).mode, 'demo', 'any NODE_ENV but production may run on the simulator')
  t.equal(loadConfig({ ...VENDOR }).mode, 'development')
  t.equal(loadConfig({ ...VENDOR, NODE_ENV: 'test' }).mode, 'development')
  t.equal(loadConfig({ ...VENDOR, NODE_ENV: 'production' }).mode, 'production')
  t.equal(loadConfig({ ...VENDOR, NODE_ENV: 'production' }).limits.shutdownDelayMs, 5000, 'the mode sets the drain delay\'s default')
  t.equal(loadConfig({ ...VENDOR }).limits.shutdownDelayMs, 0)
})

t.test('a NODE_ENV that is none of production, development or test is refused, naming it and the accepted values', async (t) => {
  for (const typo of ['prod', 'Production', 'staging', 'dev']) {
    for (const env of [{ NODE_ENV: typo }, { ...VENDOR, NODE_ENV: typo }]) {
      const problems = problemsOf(env)
      t.same(problems, ['NODE_ENV: must be production, development or test, or unset'], `${typo}, vendor ${'VENDOR_APP_ID' in env ? 'set' : 'unset'}: named, not repeated`)
    }
  }
  for (const accepted of ['production', 'development', 'test']) t.ok(loadConfig({ ...VENDOR, NODE_ENV: accepted }), `${accepted} is accepted`)
  t.equal(loadConfig({ NODE_ENV: '' }).mode, 'demo', 'empty is unset, still allowed')
})

t.test('production refuses vendor settings left on the deploy examples\' placeholders, naming each, never the value', async (t) => {
  const placeholders = {
    VENDOR_BASE_URL: 'https://vendor.example.invalid',
    VENDOR_APP_ID: 'REPLACE_ME',
    VENDOR_APP_SECRET: 'half-typed-secret-REPLACE_ME',
    VENDOR_SIGN_KEY: 'REPLACE_ME-sign-key-begun'
  }
  const problems = problemsOf({ ...placeholders, NODE_ENV: 'production' })
  t.same(problems.map((problem) => problem.split(':')[0]), Object.keys(placeholders), 'each one, in order')
  t.match(problems[0], /^VENDOR_BASE_URL: its host is the example's placeholder \(under example\.invalid\); NODE_ENV=production needs the real value$/)
  for (const problem of problems.slice(1)) t.match(problem, /: still holds the example's placeholder REPLACE_ME; NODE_ENV=production needs the real value$/)
  for (const part of ['half-typed-secret', 'sign-key-begun', 'vendor.example.invalid']) t.notMatch(problems.join('\n'), part, 'no value is repeated')
  for (const url of ['https://example.invalid', 'http://a.b.example.invalid:8080/open', 'https://REPLACE_ME.example.com']) {
    t.same(problemsOf({ ...VENDOR, VENDOR_BASE_URL: url, NODE_ENV: 'production' }).map((problem) => problem.split(':')[0]), ['VENDOR_BASE_URL'], url)
  }
  for (const url of ['https://example.invalid.vendor.com', 'https://notexample.invalid', 'https://vendor.example.test']) {
    t.equal(loadConfig({ ...VENDOR, VENDOR_BASE_URL: url, NODE_ENV: 'production' }).mode, 'production', `${url} is a real host`)
  }
  t.equal(loadConfig({ ...placeholders }).mode, 'development', 'outside production the examples may run (against nothing)')

  // the fleet's signing key, which production requires with any Redis
  const signed = { REDIS_SIGNING_KEY: 'a-real-fleet-signing-key-0123456789abcdef' }
  const redis = {
    REDIS_SENTINELS: 'sentinel-0.example.invalid:26379,sentinel-1.internal:26379',
    REDIS_SENTINEL_MASTER: 'REPLACE_ME',
    REDIS_USERNAME: 'REPLACE_ME',
    REDIS_PASSWORD: 'REPLACE_ME-with-the-password',
    REDIS_SENTINEL_PASSWORD: 'REPLACE_ME'
  }
  const redisProblems = problemsOf({ ...VENDOR, ...signed, ...redis, NODE_ENV: 'production' })
  t.same(redisProblems.map((problem) => problem.split(':')[0]), Object.keys(redis), 'the Redis settings too, each one')
  t.match(redisProblems[0], /^REDIS_SENTINELS: its host is the example's placeholder \(under example\.invalid\)/)
  t.notOk(redisProblems.join('\n').includes('with-the-password'), 'never the value')
  t.match(problemsOf({ ...VENDOR, ...signed, REDIS_CLUSTER_NODES: 'redis-0.internal:6379,REDIS-1.EXAMPLE.INVALID:6379', NODE_ENV: 'production' }), [/^REDIS_CLUSTER_NODES: its host is the example's placeholder/])
  t.match(problemsOf({ ...VENDOR, ...signed, REDIS_URL: 'redis://:REPLACE_ME@redis:6379/0', NODE_ENV: 'production' }), [/^REDIS_URL: still holds the example's placeholder REPLACE_ME/], 'a URL with the placeholder for its password')
  t.equal(loadConfig({ ...VENDOR, ...signed, REDIS_CLUSTER_NODES: 'redis-0.internal:6379', REDIS_PASSWORD: 'a-real-one', NODE_ENV: 'production' }).mode, 'production', 'real values start')
  t.match(problemsOf({ ...VENDOR, REDIS_SIGNING_KEY: 'REPLACE_ME-REPLACE_ME-REPLACE_ME-REPLACE_ME', REDIS_CLUSTER_NODES: 'redis-0.internal:6379', NODE_ENV: 'production' }), [/^REDIS_SIGNING_KEY: still holds the example's placeholder REPLACE_ME/], 'the signing key on its placeholder, with Cluster too')
  t.match(problemsOf({ ...VENDOR, REDIS_SENTINELS: 'sentinel-0.internal:26379', REDIS_SENTINEL_MASTER: 'mymaster', NODE_ENV: 'production' }), [/^REDIS_SIGNING_KEY: missing/], 'and required with Sentinel')
})

t.test('every problem is reported at once, by name, without any value', async (t) => {
  const env = { ...VENDOR, VENDOR_SIGN_KEY: '', PORT: 'eighty', VENDOR_TIMEOUT_MS: '-5', LOG_LEVEL: 'loud', VENDOR_BASE_URL: 'ftp://x' }
  let message = ''
  try { loadConfig(env) } catch (error) { message = (error as Error).message }
  for (const name of ['PORT', 'VENDOR_TIMEOUT_MS', 'LOG_LEVEL', 'VENDOR_BASE_URL', 'VENDOR_SIGN_KEY']) t.match(message, name)
  for (const secret of [VENDOR.VENDOR_APP_ID, VENDOR.VENDOR_APP_SECRET, 'eighty', 'loud']) t.notMatch(message, secret)
})

const KEY_A = 'a'.repeat(16) + '0123456789abcdef'
const KEY_B = 'B1c2D3e4F5g6H7i8J9k0L1m2N3o4P5q6-_~+/='

t.test('problems are plain words by variable name, never zod\'s wording', async (t) => {
  const problems = problemsOf({ PORT: 'eighty', VENDOR_TIMEOUT_MS: '-5', RATE_LIMIT_MAX: '1.5', METRICS_PORT: '70000', VENDOR_RETRY_BUDGET_RATIO: '2', MAX_RSS_BYTES: '-1', LOG_LEVEL: 'loud', CACHE_ENABLED: 'yes' })
  t.same(problems, [
    'PORT: must be a whole number from 0 to 65535',
    'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
    'VENDOR_TIMEOUT_MS: must be a whole number from 100 to 120000',
    'CACHE_ENABLED: must be true or false',
    'VENDOR_RETRY_BUDGET_RATIO: must be a number from 0 to 1',
    'MAX_RSS_BYTES: must be a whole number, 0 or more',
    'RATE_LIMIT_MAX: must be a whole number from 1 to 1000000',
    'METRICS_PORT: must be a whole number from 0 to 65535'
  ])
  const keys = problemsOf({ API_KEYS: Array.from({ length: 12 }, (_, i) => i === 10 ? KEY_A : 'short').join(',') })
  t.same(keys.map((p) => /the (\w+) entry/.exec(p)?.[1]), ['1st', '2nd', '3rd', '4th', '5th', '6th', '7th', '8th', '9th', '10th', '12th'])
})

t.test('API_KEYS: a comma-separated list of keys, trimmed and deduplicated', async (t) => {
  t.same(loadConfig({ API_KEYS: ` ${KEY_A} ,${KEY_B},,${KEY_A}` }).apiKeys, [KEY_A, KEY_B])
})

t.test('API_KEYS: a key shorter than 32 characters or with odd characters fails the start, naming API_KEYS but not the key', async (t) => {
  const short = 'short-key-0123456789'
  const spaced = 'x'.repeat(20) + ' has spaces inside it'
  const problems = problemsOf({ API_KEYS: `${KEY_A},${short},${spaced}` })
  t.equal(problems.length, 2)
  t.equal(problems[0], 'API_KEYS: the 2nd entry must be at least 32 characters')
  t.match(problems[1], /^API_KEYS: the 3rd entry must be letters, digits/)
  for (const secret of [KEY_A, short, spaced]) t.notMatch(problems.join('\n'), secret)
})

t.test('TRUST_PROXY: false or a list of proxy addresses and CIDRs', async (t) => {
  t.equal(loadConfig({ TRUST_PROXY: 'false' }).trustProxy, false)
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,fd00::/8,loopback' }).trustProxy, ['10.0.0.0/8', '127.0.0.1', 'fd00::/8', 'loopback'])
  for (const bad of ['yes', '10.0.0.0/33', '10.0.0.300', '::1/129', '10.0.0.0/8/1', '1.2.3.4/x']) {
    t.match(problemsOf({ TRUST_PROXY: bad })[0], /^TRUST_PROXY: must be false or a comma-separated list of the proxies' addresses or CIDRs$/, bad)
  }
  t.match(problemsOf({ TRUST_PROXY: '2' })[0], /^TRUST_PROXY: a hop count is not supported/, 'Fastify 5 would silently trust no one')
})

t.test('TRUST_PROXY=true is refused, in production and out: it would make X-Forwarded-For, which the client writes, the client address', async (t) => {
  const envs: Array<Record<string, string>> = [{ TRUST_PROXY: 'true' }, { TRUST_PROXY: 'true', NODE_ENV: 'production', ...VENDOR }]
  for (const env of envs) {
    t.same(problemsOf(env), [
      'TRUST_PROXY: true trusts whatever any client writes in X-Forwarded-For; list your proxies\' addresses or CIDRs instead (loopback for a proxy on this machine)'
    ], env.NODE_ENV ?? 'development')
  }
})

t.test('RATE_LIMIT_MAX and RATE_LIMIT_WINDOW_MS are bounded integers', async (t) => {
  const config = loadConfig({ RATE_LIMIT_MAX: '10', RATE_LIMIT_WINDOW_MS: '1000' })
  t.equal(config.rateLimitMax, 10)
  t.equal(config.rateLimitWindowMs, 1000)
  const problems = problemsOf({ RATE_LIMIT_MAX: '0', RATE_LIMIT_WINDOW_MS: '999' })
  t.match(problems.join('\n'), /RATE_LIMIT_MAX/)
  t.match(problems.join('\n'), /RATE_LIMIT_WINDOW_MS/)
})

t.test('CORS_ORIGINS: exact origins only', async (t) => {
  t.same(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).corsOrigins, ['https://app.example.com', 'http://localhost:5173'])
  for (const bad of ['*', 'https://app.example.com/', 'https://app.example.com/path', 'ftp://files.example.com', 'app.example.com']) {
    t.match(problemsOf({ CORS_ORIGINS: `https://ok.example.com,${bad}` })[0], /^CORS_ORIGINS: the 2nd entry must be an exact origin/, bad)
  }
})

t.test('METRICS_PORT and METRICS_HOST; the metrics port never equals the API port', async (t) => {
  const config = loadConfig({ METRICS_PORT: '9100', METRICS_HOST: '127.0.0.1' })
  t.equal(config.metricsPort, 9100)
  t.equal(config.metricsHost, '127.0.0.1')
  t.equal(loadConfig({}).metricsPort, 9464, 'OpenTelemetry\'s Prometheus-exporter port by default, not Prometheus\' own 9090')
  t.match(problemsOf({ PORT: '9464' })[0], /^METRICS_PORT: must differ from PORT/)
  t.equal(loadConfig({ PORT: '0', METRICS_PORT: '0' }).metricsPort, 0, 'two random ports never collide')
})

t.test('MAX_CONNECTIONS: a positive integer, 800 by default', async (t) => {
  t.equal(loadConfig({}).limits.maxConnections, 800)
  t.equal(loadConfig({ MAX_CONNECTIONS: '5000' }).limits.maxConnections, 5000)
  for (const bad of ['0', '-1', 'many', '1.5']) t.match(problemsOf({ MAX_CONNECTIONS: bad })[0], /^MAX_CONNECTIONS: /, bad)
})

t.test('VENDOR_BASE_URL with a user or password is refused, without echoing it', async (t) => {
  for (const url of ['https://merchant:hunter2-pass@vendor.example.test/api', 'https://merchant@vendor.example.test', 'https://:hunter2-pass@vendor.example.test']) {
    const problems = problemsOf({ ...VENDOR, VENDOR_BASE_URL: url })
    t.equal(problems.length, 1, url)
    t.match(problems[0], /^VENDOR_BASE_URL: must not contain a user or password: credentials do not belong in the URL/)
    t.notMatch(problems[0], /hunter2|merchant/)
  }
  t.equal(loadConfig({ ...VENDOR, VENDOR_BASE_URL: 'https://vendor.example.test/open-api/v2' }).vendor?.baseUrl, 'https://vendor.example.test/open-api/v2', 'a path prefix is fine')
})

/** The rows of docs/operations.md's Configuration table: variable → its default cell. */
function documentedSettings (): Map<string, string> {
  const text = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8')
  const section = /^## Configuration\n([\s\S]*?)(?=^## )/m.exec(text)?.[1] ?? ''
  const rows = section.split('\n').filter((line) => line.startsWith('| `'))
  return new Map(rows.map((row) => {
    const [name = '', defaultCell = ''] = row.split('|').slice(1).map((cell) => cell.trim())
    return [name.replace(/^`|`$/g, ''), defaultCell]
  }))
}

/** A setting's default as the schema states it; undefined when it has none. */
function schemaDefault (schema: z.ZodType): unknown {
  if (schema instanceof z.ZodDefault) return schema.def.defaultValue
  if (schema instanceof z.ZodPipe) return schemaDefault(schema.in as z.ZodType)
  return undefined
}

t.test('docs/operations.md lists every setting with the schema\'s default, and no setting that does not exist', async (t) => {
  const documented = documentedSettings()
  t.ok(documented.size > 0, 'the table was found')
  t.same([...documented.keys()].sort(), Object.keys(SETTINGS.shape).sort(), 'the same variables')
  // the one default that depends on another setting, stated as the config computes it
  const production = loadConfig({ ...VENDOR, NODE_ENV: 'production' }).limits.shutdownDelayMs
  const computed: Record<string, string> = { SHUTDOWN_DELAY_MS: `\`${production}\` in production, else \`${loadConfig({}).limits.shutdownDelayMs}\`` }
  for (const [name, schema] of Object.entries(SETTINGS.shape)) {
    const value = schemaDefault(schema)
    const expected = computed[name] ?? (value === undefined ? '—' : `\`${String(value)}\``)
    t.equal(documented.get(name), expected, name)
  }
})
