import { pino, type DestinationStream, type Logger } from 'pino'

/**
 * Wherever they could surface in a log line, the vendor credentials and the callers'
 * credentials are replaced: request headers, and any object carrying them by name.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers.appid',
  'req.headers.appsecret',
  'headers.Appid',
  'headers.AppSecret',
  'headers.authorization',
  ...['appId', 'appSecret', 'signKey', 'Appid', 'AppSecret', 'apiKeys'].flatMap((key) => [key, `*.${key}`, `*.*.${key}`])
]

export function createLogger (level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination)
}
