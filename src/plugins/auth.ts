import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors/catalogue.js'
import { createKeyMatcher } from '../http/api-key-matcher.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** who called, when API keys are on: a short hash of their key, never the key itself */
    apiKeyId: string | undefined
    /** why the key was refused; the 401 waits for the rate limiter to count the attempt */
    authFailure: AuthFailure | undefined
  }
}

interface AuthFailure {
  /** the WWW-Authenticate header of the 401 */
  challenge: string
  detail: string
}

const MISSING_KEY: AuthFailure = { challenge: 'Bearer', detail: 'This API needs an API key: send it as Authorization: Bearer <key>.' }
const WRONG_KEY: AuthFailure = { challenge: 'Bearer error="invalid_token"', detail: 'The API key is not valid.' }

export interface ApiKeyAuthOptions {
  /** accepted bearer tokens; none: authentication is off */
  keys: readonly string[]
}

// RFC 6750: the scheme is case-insensitive; the token is one b64token
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i

/**
 * Bearer-token authentication for the routes registered after it in the same scope, on only
 * when keys are configured. Registered with fastify-plugin so its hooks cover its parent scope.
 *
 * The key is checked in onRequest, but a refusal is answered in preParsing, which runs after
 * every onRequest hook: the rate limiter (an onRequest hook registered after this plugin) has
 * by then counted the failed attempt against the client's address, so a flood of wrong keys
 * gets 429s, and never against a valid key's budget.
 */
const apiKeyAuth: FastifyPluginAsync<ApiKeyAuthOptions> = async (app, { keys }) => {
  app.decorateRequest('apiKeyId', undefined)
  app.decorateRequest('authFailure', undefined)
  if (keys.length === 0) return
  const match = createKeyMatcher(keys)

  app.addHook('onRequest', (request, _reply, done) => {
    const presented = BEARER.exec(request.headers.authorization ?? '')?.[1]
    const id = presented === undefined ? undefined : match(presented)
    if (id !== undefined) request.apiKeyId = id
    else request.authFailure = presented === undefined ? MISSING_KEY : WRONG_KEY
    done()
  })

  app.addHook('preParsing', (request, reply, _payload, done) => {
    const failure = request.authFailure
    if (failure === undefined) return done()
    reply.header('www-authenticate', failure.challenge)
    done(new AppError('UNAUTHORIZED', { detail: failure.detail }))
  })
}

export const authPlugin = fp(apiKeyAuth, { name: 'auth' })
