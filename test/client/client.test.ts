import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { createOrdersClient, type Order, type ProblemCode } from '../../clients/typescript/src/index.js'
import { startClockedService, PHASES_MS } from '../clocked-service.js'
import { answerOrder, buildTestApp, json, startUpstream } from '../helper.js'

// The typed client (clients/typescript) against the real service on the simulator, over real HTTP.

const MACHINE = '16327129'

/** A fetch that records each request the client makes. */
function recordingFetch () {
  const requests: Request[] = []
  const fetcher: typeof fetch = async (input, init) => {
    const request = new Request(input, init)
    requests.push(request.clone())
    return await fetch(request)
  }
  return { requests, fetch: fetcher }
}

t.test('getOrder: the order, typed, with its ETag', async (t) => {
  const { url } = await startClockedService(t)
  const client = createOrdersClient({ baseUrl: url })
  const result = await client.getOrder(54, MACHINE)
  if (!result.ok) throw new Error(`expected the order, got ${result.problem.code}`)
  t.equal(result.order.id, 54)
  t.equal(result.order.amount, '3.00')
  t.equal(result.order.items.length, 3)
  t.match(result.etag, /^"/)
})

t.test('getOrder: problems come back typed, with their code', async (t) => {
  const { url } = await startClockedService(t)
  const client = createOrdersClient({ baseUrl: `${url}/` })

  const missing = await client.getOrder(99999, MACHINE)
  if (missing.ok) throw new Error('expected a problem')
  const code: ProblemCode = missing.problem.code
  t.equal(code, 'ORDER_NOT_FOUND')
  t.match(missing.problem, { status: 404, title: String, detail: String, requestId: String })

  const invalid = await client.getOrder('007', 'abc')
  if (invalid.ok) throw new Error('expected a problem')
  t.match(invalid.problem, { status: 400, code: 'INVALID_REQUEST' })
  t.same(invalid.problem.errors?.map((error) => error.field), ['id', 'machine'])
  // @ts-expect-error: the code is the schema's union, not any string
  const wrong: ProblemCode = 'NO_SUCH_CODE'
  t.ok(wrong)
})

/** A vendor that says "machine offline" (the service answers 503, Retry-After: 30) `offline` times, then the order. */
async function offlineThenOrder (t: Test, offline: number) {
  let calls = 0
  const upstream = await startUpstream(t, (req, res) => {
    if (++calls <= offline) json(res, 200, { code: 30002, message: 'machine offline' })
    else answerOrder(req, res, { status: 'SUCCESS' })
  })
  const app = await buildTestApp(t, upstream.url)
  return { upstream, url: await app.listen({ host: '127.0.0.1', port: 0 }) }
}

t.test('getOrder with retry: waits out the 503\'s Retry-After, then answers', async (t) => {
  const { upstream, url } = await offlineThenOrder(t, 1)
  const waits: number[] = []
  const client = createOrdersClient({ baseUrl: url, wait: async (ms) => { waits.push(ms) } })
  const result = await client.getOrder(7, MACHINE, { retry: true })
  t.ok(result.ok, 'the second attempt answered')
  t.same(waits, [30_000], 'waited the Retry-After the service sent')
  t.equal(upstream.requests.length, 2)
})

t.test('getOrder with retry: bounded attempts; no retry by default; a Retry-After above maxDelayMs is not waited for', async (t) => {
  const { upstream, url } = await offlineThenOrder(t, 10)
  const waits: number[] = []
  const client = createOrdersClient({ baseUrl: url, wait: async (ms) => { waits.push(ms) } })

  const plain = await client.getOrder(7, MACHINE)
  t.match(plain, { ok: false, problem: { status: 503, code: 'MACHINE_OFFLINE' } })
  t.equal(upstream.requests.length, 1, 'no retry unless asked')

  const bounded = await client.getOrder(7, MACHINE, { retry: { attempts: 2 } })
  t.match(bounded, { ok: false, problem: { code: 'MACHINE_OFFLINE' } })
  t.same(waits, [30_000])
  t.equal(upstream.requests.length, 3, 'two attempts')

  const impatient = await client.getOrder(7, MACHINE, { retry: { maxDelayMs: 10_000 } })
  t.match(impatient, { ok: false, problem: { code: 'MACHINE_OFFLINE' } })
  t.equal(upstream.requests.length, 4, 'a 30 s Retry-After is not waited for with maxDelayMs 10 s')
})

// the README's example: retry: true under a 60 s timeout, a machine offline with Retry-After 30
t.test('getOrder with retry: the waits add up to maxTotalDelayMs at most, so a 60 s timeout ends with the problem', async (t) => {
  const { upstream, url } = await offlineThenOrder(t, 10)
  const waits: number[] = []
  const client = createOrdersClient({ baseUrl: url, wait: async (ms) => { waits.push(ms) } })

  const result = await client.getOrder(7, MACHINE, { retry: true, signal: AbortSignal.timeout(60_000) })
  t.match(result, { ok: false, problem: { status: 503, code: 'MACHINE_OFFLINE' } })
  t.same(waits, [30_000], 'one 30 s wait: a second would make 60 s')
  t.equal(upstream.requests.length, 2)

  const patient = await client.getOrder(7, MACHINE, { retry: { maxTotalDelayMs: 60_000 } })
  t.match(patient, { ok: false, problem: { code: 'MACHINE_OFFLINE' } })
  t.same(waits, [30_000, 30_000, 30_000], 'with a 60 s total, both waits of three attempts')
  t.equal(upstream.requests.length, 5)
})

t.test('getOrder with retry: a 429 from the rate limit is retried after its Retry-After (a real wait of the 1 s window)', async (t) => {
  const { url } = await startClockedService(t, {}, { RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW_MS: '1000' })
  const waits: number[] = []
  const client = createOrdersClient({ baseUrl: url, wait: async (ms, signal) => { waits.push(ms); await sleep(ms, undefined, { signal }) } })
  t.ok((await client.getOrder(54, MACHINE)).ok)
  t.match(await client.getOrder(54, MACHINE), { ok: false, problem: { status: 429, code: 'RATE_LIMITED' } })
  const retried = await client.getOrder(54, MACHINE, { retry: true })
  t.ok(retried.ok, 'answered once the window passed')
  t.ok(waits.length >= 1 && waits.every((ms) => ms >= 1000), 'waited Retry-After: whole seconds')
})

t.test('getOrder: the signal cancels the wait for a retry', async (t) => {
  const controller = new AbortController()
  let calls = 0
  const upstream = await startUpstream(t, (_req, res) => {
    calls++
    json(res, 200, { code: 30002, message: 'machine offline' })
  })
  const app = await buildTestApp(t, upstream.url)
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  // aborted as soon as the first answer arrives: whether that cancels reading it or the 30 s wait after it, no retry follows
  const client = createOrdersClient({ baseUrl: url, fetch: async (input, init) => { const res = await fetch(input, init); queueMicrotask(() => controller.abort()); return res } })
  await t.rejects(client.getOrder(7, MACHINE, { retry: true, signal: controller.signal }), { name: 'AbortError' })
  t.equal(calls, 1, 'no second attempt')
})

/** Clock order 2001's story, as a watcher sees it: status, first line's status, terminal. */
const STORY = [
  ['NOTPAY', null, false],
  ['SUCCESS', 'WAITING_PICKED_UP', false],
  ['SUCCESS', 'IS_DELIVERING', false],
  ['SUCCESS', 'IS_SUCCESS', true]
]

/** Watches clock order 2001, moving the simulator's clock to the next phase only once a state was seen: each is seen exactly once. */
async function followClockOrder (client: ReturnType<typeof createOrdersClient>, setElapsed: (ms: number) => void, options: Parameters<typeof client.watchOrder>[3] = {}) {
  const seen: Array<[string, string | null, boolean]> = []
  let phase = 0
  const end = await client.watchOrder(2001, MACHINE, (order: Order) => {
    seen.push([order.status, order.items[0]?.status ?? null, order.terminal])
    setElapsed(PHASES_MS[++phase] ?? PHASES_MS[3])
  }, options)
  return { seen, end }
}

t.test('watchOrder without EventSource: the first answer, then long polls with its ETag, until terminal', async (t) => {
  const { url, setElapsed } = await startClockedService(t)
  const recorder = recordingFetch()
  const client = createOrdersClient({ baseUrl: url, fetch: recorder.fetch })
  const { seen, end } = await followClockOrder(client, setElapsed, { pollIntervalMs: 10 })
  t.same(seen, STORY)
  t.match(end, { reason: 'terminal', order: { terminal: true } })
  const [first, second] = recorder.requests
  t.equal(first?.headers.get('prefer'), null, 'the first request has nothing to wait on')
  t.equal(second?.headers.get('prefer'), 'wait=25', 'long polling asked for')
  t.match(second?.headers.get('if-none-match'), /^"/, 'with the ETag of the last answer')
  t.equal(recorder.requests.length, seen.length, 'each request answered a new state: the clock moved before each poll')
})

t.test('watchOrder: the signal ends it; a problem ends it, reported', async (t) => {
  const { url } = await startClockedService(t)
  const client = createOrdersClient({ baseUrl: url })

  const controller = new AbortController()
  const updates: Order[] = []
  // the clock stays at 0: order 2001 stays unpaid, the watch would go on for ever
  const end = await client.watchOrder(2001, MACHINE, (order) => {
    updates.push(order)
    controller.abort()
  }, { signal: controller.signal, pollIntervalMs: 60_000 })
  t.same(end, { reason: 'aborted' })
  t.equal(updates.length, 1)

  const problems: string[] = []
  const missing = await client.watchOrder(99999, MACHINE, () => t.fail('no order'), { onProblem: (problem) => problems.push(problem.code) })
  t.match(missing, { reason: 'problem', problem: { status: 404, code: 'ORDER_NOT_FOUND' } })
  t.same(problems, ['ORDER_NOT_FOUND'])
})

/** Just enough of EventSource to stand for a browser's against a server without the events route: it fails before opening. */
class RefusedEventSource {
  static urls: string[] = []
  readyState = 0
  private readonly listeners = new Map<string, Array<() => void>>()
  constructor (url: string) {
    RefusedEventSource.urls.push(url)
    setImmediate(() => {
      this.readyState = 2
      for (const listener of this.listeners.get('error') ?? []) listener()
    })
  }

  addEventListener (type: string, listener: () => void): void { this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]) }
  close (): void { this.readyState = 2 }
}

t.test('watchOrder with EventSource: the events route first, plain polling when the server has none', async (t) => {
  const { url, setElapsed } = await startClockedService(t)
  const global = globalThis as { EventSource?: unknown }
  global.EventSource = RefusedEventSource
  t.teardown(() => { delete global.EventSource })
  const recorder = recordingFetch()
  const client = createOrdersClient({ baseUrl: url, fetch: recorder.fetch })
  setElapsed(PHASES_MS[3])
  const end = await client.watchOrder(2001, MACHINE, () => {}, { pollIntervalMs: 10 })
  t.same(RefusedEventSource.urls, [`${url}/orders/2001/events?machine=${MACHINE}`])
  t.match(end, { reason: 'terminal' })
  t.equal(recorder.requests[0]?.headers.get('prefer'), null, 'after a refused stream, no Prefer header (cross-origin it would need a preflight)')
})

t.test('watchOrder with EventSource against the service: the events stream carries every state to terminal, no polling', async (t) => {
  const { url, setElapsed } = await startClockedService(t)
  // Node has no global EventSource: undici's stands for a browser's
  const { EventSource } = await import('undici')
  const global = globalThis as { EventSource?: unknown }
  global.EventSource = EventSource
  t.teardown(() => { delete global.EventSource })
  const recorder = recordingFetch()
  const client = createOrdersClient({ baseUrl: url, fetch: recorder.fetch })
  const { seen, end } = await followClockOrder(client, setElapsed)
  t.same(seen, STORY)
  t.match(end, { reason: 'terminal', order: { terminal: true } })
  t.equal(recorder.requests.length, 0, 'no GET /orders/:id: the stream carried every change')
})

t.test('watchOrder without EventSource against the service: after the first answer, long polls, which the server honours', async (t) => {
  const { url, setElapsed } = await startClockedService(t)
  const answers: Array<string | null> = []
  const client = createOrdersClient({
    baseUrl: url,
    fetch: async (input, init) => {
      const res = await fetch(input, init)
      answers.push(res.headers.get('preference-applied'))
      return res
    }
  })
  const { seen, end } = await followClockOrder(client, setElapsed, { pollIntervalMs: 60_000 })
  t.same(seen, STORY)
  t.match(end, { reason: 'terminal' })
  // with a minute between plain polls, only long polls finish this in time
  t.same(answers, [null, 'wait=25', 'wait=25', null], 'every request after the first was a long poll the server honoured; the last found the order terminal, nothing to wait for')
})
