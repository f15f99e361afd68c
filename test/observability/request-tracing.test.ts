import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api'
import fastify from 'fastify'
import t, { type Test } from 'tap'
import { TracedLogController, tracedPath } from '../../src/observability/request-tracing.js'
import { parentContext } from '../../src/observability/trace-context.js'
import type { Tracing } from '../../src/observability/tracing.js'
import { tracingPlugin } from '../../src/plugins/tracing.js'
import { recordingTracer } from '../fixtures/spans.js'

t.test('url.path: never the query, never a secret path parameter', async (t) => {
  t.equal(tracedPath('/orders/54?machine=16327129&access_token=x', '/orders/:id'), '/orders/54', 'the query goes')
  t.equal(tracedPath('/orders/54', '/orders/:id'), '/orders/54')
  t.equal(tracedPath('/callbacks/delivery/s3cr3t-token?x=1', '/callbacks/delivery/:token'), '/callbacks/delivery/REDACTED', 'the callback token goes')
  t.equal(tracedPath('/callbacks/delivery/a/b', '/callbacks/delivery/:token'), '/callbacks/delivery/:token', 'segments that do not line up: the pattern')
  t.equal(tracedPath('/nowhere?key=x', undefined), '/nowhere', 'no route (404): the path without its query')
})

/** A Fastify app with the tracing plugin (every request sampled) and one route that notes where its trace context is. */
async function tracedApp (t: Test, asyncContext: boolean) {
  const { tracer, exporter } = recordingTracer(t)
  const logController = new TracedLogController({})
  // what happens to the async context's hold, against the hook and the handler
  const events: string[] = []
  const holdContext = (): () => void => {
    events.push('hold')
    let released = false
    return () => {
      if (!released) events.push('release')
      released = true
    }
  }
  const tracing: Tracing = { tracer, sample: () => true, holdContext, shutdown: async () => ({ flushed: true }) }
  const app = fastify({ logController })
  await app.register(tracingPlugin, { tracing, logController, asyncContext })
  const seen: Array<{ active: string | undefined, carried: string | undefined }> = []
  app.addHook('preHandler', (request, _reply, done) => {
    events.push('preHandler')
    seen.push({ active: trace.getSpan(context.active())?.spanContext().spanId, carried: trace.getSpan(parentContext(request.log) ?? ROOT_CONTEXT)?.spanContext().spanId })
    done()
  })
  app.get('/orders/:id', async (request) => {
    events.push('handler')
    seen.push({ active: trace.getSpan(context.active())?.spanContext().spanId, carried: trace.getSpan(parentContext(request.log) ?? ROOT_CONTEXT)?.spanContext().spanId })
    return { ok: true }
  })
  t.teardown(async () => { await app.close() })
  const res = await app.inject('/orders/54')
  t.equal(res.statusCode, 200)
  const [request] = exporter.getFinishedSpans()
  return { request: request?.spanContext().spanId, seen, events }
}

t.test('a sampled request\'s context travels with its logger, and is no async context of its hooks and handler by default', async (t) => {
  const { request, seen, events } = await tracedApp(t, false)
  t.ok(request, 'the request span was made and ended')
  t.same(seen, [{ active: undefined, carried: request }, { active: undefined, carried: request }], 'the hook\'s and the handler\'s logger carry it, no async context was entered')
  t.same(events, ['preHandler', 'handler'], 'nothing held')
})

t.test('with asyncContext (Redis, whose client finds its parent span only there), its hooks and handler run in it, held until the handler is called', async (t) => {
  const { request, seen, events } = await tracedApp(t, true)
  t.ok(request)
  t.same(seen, [{ active: request, carried: request }, { active: request, carried: request }])
  t.same(events, ['hold', 'preHandler', 'handler', 'release'], 'held through the hooks, let go once the handler has started (not when the answer has been written)')
})

t.test('with asyncContext, a request refused before its handler lets go of the async context when it ends', async (t) => {
  const { tracer, exporter } = recordingTracer(t)
  const logController = new TracedLogController({})
  const events: string[] = []
  const holdContext = (): () => void => {
    events.push('hold')
    return () => { events.push('release') }
  }
  const app = fastify({ logController })
  await app.register(tracingPlugin, { tracing: { tracer, sample: () => true, holdContext, shutdown: async () => ({ flushed: true }) }, logController, asyncContext: true })
  app.addHook('onRequest', async (_request, reply) => { await reply.code(401).send({ refused: true }) })
  app.get('/orders/:id', async () => { events.push('handler'); return {} })
  t.teardown(async () => { await app.close() })
  const res = await app.inject('/orders/54')
  t.equal(res.statusCode, 401)
  t.same(events, ['hold', 'release'], 'released once, by the end of the request')
  t.equal(exporter.getFinishedSpans().length, 1, 'its span ended')
})
