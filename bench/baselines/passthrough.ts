import Fastify from 'fastify'
import { Pool } from 'undici'
import { encodePayload } from '../../src/upstream/signing.js'

// Baseline (a): the thin proxy someone would write by hand. It forwards GET /orders/:id to the
// vendor and streams the vendor's body back: no validation, normalizing, caching or error mapping.
// It still signs every request with a fresh timestamp, because the vendor refuses anything else.

const env = process.env
const base = new URL(env.VENDOR_BASE_URL ?? 'http://127.0.0.1:4010')
const appId = env.VENDOR_APP_ID ?? ''
const appSecret = env.VENDOR_APP_SECRET ?? ''
const signKey = env.VENDOR_SIGN_KEY ?? ''

// the same transport settings as the service's vendor client, so the pool is not what is compared
const pool = new Pool(base.origin, { connections: 32, keepAliveTimeout: 30_000, headersTimeout: 5000, bodyTimeout: 5000 })
const headers = { 'content-type': 'application/json', accept: 'application/json', Appid: appId, AppSecret: appSecret }

const app = Fastify({ logger: false })

app.get('/health', async () => ({ status: 'ok' }))

app.get<{ Params: { id: string }, Querystring: { machine?: string } }>('/orders/:id', async (request, reply) => {
  const payload = encodePayload({ machine_no: request.query.machine ?? '', timestamp: String(Math.floor(Date.now() / 1000)) }, signKey)
  const vendor = await pool.request({
    method: 'POST',
    path: `/api/openapi/v1/orders/${encodeURIComponent(request.params.id)}`,
    headers,
    body: JSON.stringify({ payload })
  })
  reply.code(vendor.statusCode)
  const type = vendor.headers['content-type']
  if (typeof type === 'string') reply.header('content-type', type)
  const length = vendor.headers['content-length']
  if (typeof length === 'string') reply.header('content-length', length)
  return reply.send(vendor.body)
})

app.addHook('onClose', async () => { await pool.close() })
process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
process.once('SIGINT', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })

await app.listen({ port: Number(env.PORT ?? 0), host: env.HOST ?? '127.0.0.1' })
