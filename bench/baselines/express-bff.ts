import { createHash } from 'node:crypto'
import http from 'node:http'
import axios from 'axios'
import express, { type NextFunction, type Request, type Response } from 'express'

// Contestant (c): the BFF an integrator writes by hand from docs/vendor-api.md, the way most are
// written: Express 5, axios, node:crypto. It validates id and machine with a regex, signs, posts,
// maps the vendor's order to the service's JSON shape and the vendor's codes to statuses with a
// small table. Nothing of the service's src/ is imported: it is an independent implementation.
// No cache, no retries, no breaker, no metrics, no request log: console at error only.

const env = process.env
const VENDOR_BASE_URL = (env.VENDOR_BASE_URL ?? 'http://127.0.0.1:4010').replace(/\/+$/, '')
const APP_ID = env.VENDOR_APP_ID ?? ''
const APP_SECRET = env.VENDOR_APP_SECRET ?? ''
const SIGN_KEY = env.VENDOR_SIGN_KEY ?? ''

// a reasonably careful integrator: one module-level client with keep-alive sockets (as many as the
// service's vendor pool, so the pool size is not what is compared) and a timeout
const vendor = axios.create({
  baseURL: `${VENDOR_BASE_URL}/api/openapi/v1`,
  timeout: 5000,
  httpAgent: new http.Agent({ keepAlive: true, maxSockets: 32 }),
  headers: { 'Content-Type': 'application/json', Accept: 'application/json', Appid: APP_ID, AppSecret: APP_SECRET },
  // the vendor answers 401 with a code in the body; the body's code decides
  validateStatus: () => true
})

type Params = Record<string, string>

/** docs/vendor-api.md, Signing: drop empty values, sort keys, k=v joined by &, then &key=<sign key>, MD5, uppercase */
function sign (params: Params): string {
  const text = Object.keys(params)
    .filter((key) => params[key] !== '' && params[key] !== 'NULL')
    .sort()
    .map((key) => `${key}=${params[key]}`)
    .join('&')
  return createHash('md5').update(`${text}&key=${SIGN_KEY}`).digest('hex').toUpperCase()
}

function payloadFor (params: Params): string {
  return Buffer.from(JSON.stringify({ ...params, sign: sign(params) })).toString('base64')
}

// vendor code → HTTP status and our code (docs/vendor-api.md, Error codes)
const VENDOR_CODES: Record<number, [number, string]> = {
  80002: [404, 'ORDER_NOT_FOUND'],
  4004: [404, 'ORDER_NOT_FOUND'],
  30001: [404, 'MACHINE_NOT_FOUND'],
  30003: [404, 'MACHINE_NOT_FOUND'],
  6026: [404, 'MACHINE_NOT_FOUND'],
  6007: [404, 'MACHINE_NOT_FOUND'],
  40005: [410, 'ORDER_EXPIRED'],
  6042: [410, 'ORDER_EXPIRED'],
  40006: [409, 'ORDER_STATE_INVALID'],
  6043: [409, 'ORDER_STATE_INVALID'],
  30004: [409, 'MACHINE_NOT_OPERATING'],
  30002: [503, 'MACHINE_OFFLINE'],
  4008: [503, 'MACHINE_OFFLINE'],
  6025: [503, 'MACHINE_OFFLINE']
}

const ORDER_STATUSES = new Set(['SUCCESS', 'REFUND', 'CLOSED', 'REVOKED', 'USERPAYING', 'PAYERROR', 'PICKUPCODE', 'NOTPAY', 'TESTPAY'])
const ITEM_STATUSES = new Set(['WAITING_PICKED_UP', 'IS_PICKED_UP', 'IS_REFUND', 'IS_DELIVERING', 'IS_SUCCESS', 'IS_FAILED', 'IS_TIMEOUT'])
const PAID = new Set(['SUCCESS', 'PICKUPCODE', 'TESTPAY'])
const FINAL_ORDER = new Set(['REFUND', 'CLOSED', 'REVOKED', 'PAYERROR'])
const FINAL_ITEM = new Set(['IS_PICKED_UP', 'IS_REFUND', 'IS_SUCCESS', 'IS_FAILED', 'IS_TIMEOUT'])

const money = (value: any): string => Number(value ?? 0).toFixed(2)
const int = (value: any): number => Number(value ?? 0)

function mapOrder (id: number, data: any): Record<string, unknown> {
  const status = ORDER_STATUSES.has(data.status) ? data.status : 'UNKNOWN'
  const items = (data.records ?? []).map((r: any) => ({
    id: int(r.id),
    productId: int(r.product_id),
    quantity: int(r.quantity),
    price: money(r.price),
    status: r.status === undefined ? null : ITEM_STATUSES.has(r.status) ? r.status : 'UNKNOWN',
    notifySent: r.notify_sent === '1' || r.notify_sent === 1 || r.notify_sent === true
  }))
  return {
    id,
    tradeId: data.trade_id ?? null,
    date: data.date ?? null,
    amount: money(data.amount),
    status,
    notifySendCount: int(data.notify_send_count),
    pickupCodeId: data.pickup_code_id === undefined ? null : int(data.pickup_code_id),
    terminal: FINAL_ORDER.has(status) || (PAID.has(status) && items.length > 0 && items.every((i: any) => FINAL_ITEM.has(i.status))),
    items
  }
}

const fail = (res: Response, status: number, code: string, message: string): void => {
  res.status(status).json({ error: { code, message } })
}

const app = express()

app.get('/health', (_req, res) => { res.json({ status: 'ok' }) })

app.get('/orders/:id', async (req: Request<{ id: string }>, res: Response) => {
  const { id } = req.params
  const machine = req.query.machine
  if (!/^[1-9]\d{0,15}$/.test(id) || Number(id) > Number.MAX_SAFE_INTEGER) return fail(res, 400, 'INVALID_REQUEST', 'id must be a positive integer')
  if (typeof machine !== 'string' || !/^\d{8,20}$/.test(machine)) return fail(res, 400, 'INVALID_REQUEST', 'machine must be 8 to 20 digits')

  const payload = payloadFor({ machine_no: machine, timestamp: String(Math.floor(Date.now() / 1000)) })
  const { status: httpStatus, data: body } = await vendor.post(`/orders/${id}`, { payload })

  if (body === null || typeof body !== 'object') return fail(res, 502, 'UPSTREAM_BAD_RESPONSE', `vendor answered HTTP ${httpStatus} without an envelope`)
  const code = Number(body.code ?? 0) // protobuf leaves out code 0
  if (code !== 0) {
    const [status, ourCode] = VENDOR_CODES[code] ?? [502, 'UPSTREAM_ERROR']
    if (status === 502) console.error(`vendor error ${code} (HTTP ${httpStatus}): ${body.message}`)
    return fail(res, status, ourCode, body.message ?? `vendor code ${code}`)
  }
  const data = typeof body.data === 'string' ? JSON.parse(body.data) : body.data
  if (httpStatus >= 300 || data === null || typeof data !== 'object' || Number(data.order_id) !== Number(id)) {
    return fail(res, 502, 'UPSTREAM_BAD_RESPONSE', 'vendor answered without the order')
  }
  res.json(mapOrder(Number(id), data))
})

// the vendor unreachable or too slow, or a bug: 502, logged
app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
  console.error(error.message)
  if (!res.headersSent) fail(res, 502, 'UPSTREAM_UNREACHABLE', 'vendor unreachable')
})

const server = app.listen(Number(env.PORT ?? 0), env.HOST ?? '127.0.0.1')

function stop (): void {
  server.close(() => process.exit(0))
  server.closeAllConnections()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
