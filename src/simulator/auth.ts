import type { IncomingHttpHeaders } from 'node:http'
import { sameSecret } from '../http/constant-time.js'
import type { SimulatorCredentials } from './credentials.js'

function header (headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name]
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** The vendor code for the Appid/AppSecret headers: 0 when they match, else 10008, 10014 or 10013. */
export function checkCredentials (headers: IncomingHttpHeaders, credentials: SimulatorCredentials): number {
  const appId = header(headers, 'appid')
  const appSecret = header(headers, 'appsecret')
  if (appId === undefined || appSecret === undefined) return 10008
  if (!sameSecret(appId, credentials.appId)) return 10014
  if (!sameSecret(appSecret, credentials.appSecret)) return 10013
  return 0
}
