import { z } from 'zod'

/** The four settings that point the service at the real vendor; all or none. */
export const VENDOR_SETTINGS = ['VENDOR_BASE_URL', 'VENDOR_APP_ID', 'VENDOR_APP_SECRET', 'VENDOR_SIGN_KEY'] as const

export interface VendorSettings {
  baseUrl: string
  appId: string
  appSecret: string
  signKey: string
}

export interface Config {
  port: number
  host: string
  logLevel: string
  production: boolean
  /** null: no vendor configured, run on the embedded simulator (never in production) */
  vendor: VendorSettings | null
  vendorTimeoutMs: number
  vendorMaxBodyBytes: number
}

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max)

// Empty strings count as unset, so `FOO=` in an env file behaves like no FOO at all.
const EnvSchema = z.object({
  NODE_ENV: z.string().optional(),
  PORT: int(0, 65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  VENDOR_BASE_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  VENDOR_APP_ID: z.string().optional(),
  VENDOR_APP_SECRET: z.string().optional(),
  VENDOR_SIGN_KEY: z.string().optional(),
  VENDOR_TIMEOUT_MS: int(100, 120_000).default(5000),
  VENDOR_MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024)
})

/**
 * Environment → typed Config. Every problem is reported at once, by variable name; values are
 * never echoed, since some of them are secrets.
 */
export function loadConfig (env: Record<string, string | undefined>): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''))
  const parsed = EnvSchema.safeParse(present)
  const problems = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)
  const production = present.NODE_ENV === 'production'

  const missing = VENDOR_SETTINGS.filter((name) => present[name] === undefined)
  if (missing.length > 0 && missing.length < VENDOR_SETTINGS.length) {
    problems.push(`${missing.join(', ')}: missing; the vendor settings ${VENDOR_SETTINGS.join(', ')} must be set together`)
  } else if (missing.length > 0 && production) {
    problems.push(`${missing.join(', ')}: missing; NODE_ENV=production refuses to fall back to the embedded simulator`)
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems)

  const e = parsed.data
  return {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    production,
    vendor: missing.length === 0
      ? { baseUrl: e.VENDOR_BASE_URL!, appId: e.VENDOR_APP_ID!, appSecret: e.VENDOR_APP_SECRET!, signKey: e.VENDOR_SIGN_KEY! }
      : null,
    vendorTimeoutMs: e.VENDOR_TIMEOUT_MS,
    vendorMaxBodyBytes: e.VENDOR_MAX_BODY_BYTES
  }
}
