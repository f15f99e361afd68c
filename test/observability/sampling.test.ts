import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api'
import { ParentBasedSampler, SamplingDecision, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-node'
import t from 'tap'
import { createRequestSampler, parseTraceparent, samplerSettings, type SamplerName } from '../../src/observability/sampling.js'

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const SPAN_ID = '00f067aa0ba902b7'

t.test('OTEL_TRACES_SAMPLER and its argument, read as the SDK reads them', async (t) => {
  t.same(samplerSettings({}), { sampler: { name: 'parentbased_always_on', ratio: 1 }, warnings: [] }, 'the SDK\'s default')
  t.same(samplerSettings({ OTEL_TRACES_SAMPLER: ' ' }).sampler.name, 'parentbased_always_on', 'blank: the default')
  t.same(samplerSettings({ OTEL_TRACES_SAMPLER: 'always_off' }).sampler, { name: 'always_off', ratio: 1 })
  t.same(samplerSettings({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' }), { sampler: { name: 'parentbased_traceidratio', ratio: 0.01 }, warnings: [] })
  t.same(samplerSettings({ OTEL_TRACES_SAMPLER: 'TraceIdRatio', OTEL_TRACES_SAMPLER_ARG: '0' }).sampler, { name: 'traceidratio', ratio: 0 }, 'case-insensitive, as the spec asks of enum values')
  const noArg = samplerSettings({ OTEL_TRACES_SAMPLER: 'traceidratio' })
  t.same(noArg.sampler, { name: 'traceidratio', ratio: 1 }, 'no argument: every trace, as the SDK defaults')
  t.match(noArg.warnings, [/OTEL_TRACES_SAMPLER_ARG is not set/])
  t.match(samplerSettings({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }), { sampler: { ratio: 1 }, warnings: [/=2 is not a ratio/] })
  t.match(samplerSettings({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' }), { sampler: { ratio: 1 }, warnings: [/=half is not a ratio/] })
  t.match(samplerSettings({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }), { sampler: { name: 'parentbased_always_on' }, warnings: [/jaeger_remote is not a sampler/] })
})

t.test('traceparent: what the W3C propagator accepts, and nothing else', async (t) => {
  t.same(parseTraceparent(`00-${TRACE_ID}-${SPAN_ID}-01`), { traceId: TRACE_ID, spanId: SPAN_ID, sampled: true })
  t.same(parseTraceparent(`00-${TRACE_ID}-${SPAN_ID}-00`), { traceId: TRACE_ID, spanId: SPAN_ID, sampled: false })
  t.same(parseTraceparent(`00-${TRACE_ID}-${SPAN_ID}-03`)?.sampled, true, 'other flags beside sampled')
  t.same(parseTraceparent([`00-${TRACE_ID}-${SPAN_ID}-01`, 'x']), { traceId: TRACE_ID, spanId: SPAN_ID, sampled: true }, 'the first of several')
  t.ok(parseTraceparent(`01-${TRACE_ID}-${SPAN_ID}-01-more`), 'a later version may have more fields')
  for (const bad of [undefined, '', 'garbage', `00-${TRACE_ID}-${SPAN_ID}-01-more`, `ff-${TRACE_ID}-${SPAN_ID}-01`, `00-${'0'.repeat(32)}-${SPAN_ID}-01`,
    `00-${TRACE_ID}-${'0'.repeat(16)}-01`, `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`, `00-${TRACE_ID}-${SPAN_ID}`]) {
    t.equal(parseTraceparent(bad), undefined, `no parent: ${String(bad)}`)
  }
})

t.test('the decisions are the SDK samplers\' decisions', async (t) => {
  const sampled = (name: SamplerName, ratio: number, parent?: { traceId: string, sampled: boolean }) =>
    createRequestSampler({ name, ratio })(parent === undefined ? undefined : { ...parent, spanId: SPAN_ID })
  t.ok(sampled('always_on', 1, { traceId: TRACE_ID, sampled: false }), 'always_on ignores the caller')
  t.notOk(sampled('always_off', 1, { traceId: TRACE_ID, sampled: true }), 'always_off ignores the caller')
  t.ok(sampled('parentbased_always_on', 1), 'parentbased_always_on: a new trace')
  t.notOk(sampled('parentbased_always_on', 1, { traceId: TRACE_ID, sampled: false }), "parentbased: the caller's decision")
  t.notOk(sampled('parentbased_always_off', 1))
  t.ok(sampled('parentbased_always_off', 1, { traceId: TRACE_ID, sampled: true }))
  t.ok(sampled('parentbased_traceidratio', 0, { traceId: TRACE_ID, sampled: true }), 'a sampled caller, whatever the ratio')
  t.notOk(sampled('parentbased_traceidratio', 1, { traceId: TRACE_ID, sampled: false }))
  t.notOk(sampled('parentbased_traceidratio', 0), 'ratio 0: no new trace')
  t.ok(sampled('parentbased_traceidratio', 1), 'ratio 1: every new trace')

  const share = Array.from({ length: 20_000 }, () => sampled('parentbased_traceidratio', 0.1)).filter(Boolean).length / 20_000
  t.ok(share > 0.08 && share < 0.12, `a new trace at 10%: ${share}`)

  // traceidratio on a caller's trace: the SDK's own decision, on the same trace id
  const sdkRatio = (ratio: number, traceId: string): boolean =>
    new TraceIdRatioBasedSampler(ratio).shouldSample(ROOT_CONTEXT, traceId).decision === SamplingDecision.RECORD_AND_SAMPLED
  for (let i = 0; i < 500; i++) {
    const traceId = Array.from({ length: 32 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('')
    for (const ratio of [0, 0.01, 0.5, 1]) {
      if (sampled('traceidratio', ratio, { traceId, sampled: false }) !== sdkRatio(ratio, traceId)) t.fail(`traceidratio ${ratio} on ${traceId}`)
    }
  }
  // and parent-based on a caller, against the SDK's ParentBasedSampler
  const parentBased = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0) })
  for (const flags of [0, 1]) {
    const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: flags, isRemote: true })
    const sdk = parentBased.shouldSample(parent, TRACE_ID, 'GET', SpanKind.SERVER, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED
    t.equal(sampled('parentbased_traceidratio', 0, { traceId: TRACE_ID, sampled: flags === 1 }), sdk, `caller flags ${flags}`)
  }
})
