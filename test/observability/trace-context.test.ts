import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api'
import pino from 'pino'
import t from 'tap'
import { carryContext, parentContext, setContextHolds, withinContext } from '../../src/observability/trace-context.js'
import { recordingTracer } from '../fixtures/spans.js'

const spanIdOf = (ctx: ReturnType<typeof parentContext>): string | undefined => ctx === undefined ? undefined : trace.getSpan(ctx)?.spanContext().spanId

t.test('the context a logger carries is its children\'s too; without one, the async context\'s recording span, else none', async (t) => {
  const { tracer } = recordingTracer(t)
  const request = tracer.startSpan('GET /orders/:id')
  const logger = pino({ enabled: false })
  t.equal(parentContext(logger), undefined, 'nothing carried, no span active: untraced')
  const carried = trace.setSpan(ROOT_CONTEXT, request)
  carryContext(logger, carried)
  t.equal(parentContext(logger), carried)
  t.equal(parentContext(logger.child({ component: 'x' })), carried, 'a child logger inherits it')
  t.equal(parentContext(pino({ enabled: false })), undefined, 'another logger does not')
  const active = tracer.startSpan('active')
  t.equal(spanIdOf(context.with(trace.setSpan(ROOT_CONTEXT, active), () => parentContext({}))), active.spanContext().spanId, 'the async context\'s span, for a logger that carries none')
  active.end()
  t.equal(context.with(trace.setSpan(ROOT_CONTEXT, active), () => parentContext({})), undefined, 'not once that span has ended')
  request.end()
})

t.test('work within a context runs in it and holds the async context until it settles, failed or not', async (t) => {
  const { tracer } = recordingTracer(t)
  const events: string[] = []
  setContextHolds(() => { events.push('hold'); return () => { events.push('release') } })
  t.teardown(() => { setContextHolds(undefined) })
  const span = tracer.startSpan('lookup')
  const ctx = trace.setSpan(ROOT_CONTEXT, span)
  const seen = await withinContext(ctx, async () => {
    await new Promise((resolve) => setImmediate(resolve))
    events.push('work')
    return trace.getSpan(context.active())?.spanContext().spanId
  })
  t.equal(seen, span.spanContext().spanId, 'the work ran in the context, after an await too')
  t.same(events, ['hold', 'work', 'release'])
  await t.rejects(withinContext(ctx, async () => { throw new Error('vendor down') }), /vendor down/)
  t.same(events.slice(3), ['hold', 'release'], 'released when the work failed')
  t.equal(trace.getSpan(context.active()), undefined, 'and no context is left active after it')
  span.end()
})
