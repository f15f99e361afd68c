// Whether a request is traced, decided once when it arrives and before anything is built for it
// (src/plugins/tracing.ts): from the caller's `traceparent`, when it sends one, and the sampler the
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG variables name, as the OpenTelemetry SDK reads
// them. An unsampled request then costs one header read and, for a ratio, one random number.

export type SamplerName = 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio'
export interface SamplerSettings { name: SamplerName, ratio: number }

const SAMPLERS = new Set<string>(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'])
const DEFAULT_SAMPLER: SamplerSettings = { name: 'parentbased_always_on', ratio: 1 }

/** OTEL_TRACES_SAMPLER and its argument; what the SDK would default, with a warning, for what it cannot use. */
export function samplerSettings (env: Record<string, string | undefined>): { sampler: SamplerSettings, warnings: string[] } {
  const warnings: string[] = []
  const raw = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase()
  if (raw === undefined || raw === '') return { sampler: DEFAULT_SAMPLER, warnings }
  if (!SAMPLERS.has(raw)) {
    warnings.push(`OTEL_TRACES_SAMPLER=${raw} is not a sampler this service has (${[...SAMPLERS].join(', ')}); using parentbased_always_on`)
    return { sampler: DEFAULT_SAMPLER, warnings }
  }
  const name = raw as SamplerName
  if (!name.endsWith('traceidratio')) return { sampler: { name, ratio: 1 }, warnings }
  // the SDK's reading: a number in [0, 1], else 1
  const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim()
  const ratio = arg === undefined || arg === '' ? Number.NaN : Number(arg)
  if (!(ratio >= 0 && ratio <= 1)) {
    warnings.push(`OTEL_TRACES_SAMPLER_ARG ${arg === undefined || arg === '' ? 'is not set' : `=${arg} is not a ratio between 0 and 1`}; sampling every trace`)
    return { sampler: { name, ratio: 1 }, warnings }
  }
  return { sampler: { name, ratio }, warnings }
}

/** A caller's W3C trace context, as much of it as the decision needs. */
export interface Traceparent { traceId: string, spanId: string, sampled: boolean }

// the W3C propagator's own pattern (@opentelemetry/core), so the two never disagree on whether there is a parent
const TRACEPARENT = /^\s?((?!ff)[\da-f]{2})-((?![0]{32})[\da-f]{32})-((?![0]{16})[\da-f]{16})-([\da-f]{2})(-.*)?\s?$/

/** The `traceparent` header → the caller's trace, or undefined when there is none the propagator would accept. */
export function parseTraceparent (header: string | string[] | undefined): Traceparent | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined || value === '') return undefined
  const match = TRACEPARENT.exec(value)
  // version 00 has exactly four fields; a later version may have more
  if (match === null || (match[1] === '00' && match[5] !== undefined)) return undefined
  return { traceId: match[2]!, spanId: match[3]!, sampled: (Number.parseInt(match[4]!, 16) & 1) === 1 }
}

/** The SDK's TraceIdRatioBasedSampler: the trace id's four 32-bit words XORed, against the ratio's share of 2^32. */
function traceIdBelow (traceId: string, ratio: number): boolean {
  const upperBound = ratio >= 1 ? 0x100000000 : Math.floor(ratio * 0xffffffff)
  let accumulation = 0
  for (let i = 0; i < 32; i += 8) accumulation = (accumulation ^ Number.parseInt(traceId.slice(i, i + 8), 16)) >>> 0
  return accumulation < upperBound
}

/** Is this request traced, given the caller's trace context (if any)? */
export type RequestSampler = (parent: Traceparent | undefined) => boolean

/**
 * The SDK's samplers' decisions, for a request span: parentbased_* follow a caller's sampled flag and
 * use their root sampler only without a caller; traceidratio decides on the caller's trace id as the
 * SDK does. A new trace's id does not exist yet when this decides (it is made only for a span that is
 * sampled), so a root's ratio is a random draw: the same share, decided without making an id.
 */
export function createRequestSampler ({ name, ratio }: SamplerSettings): RequestSampler {
  const byRatio = (parent: Traceparent | undefined): boolean =>
    ratio >= 1 || (ratio > 0 && (parent === undefined ? Math.random() < ratio : traceIdBelow(parent.traceId, ratio)))
  switch (name) {
    case 'always_on': return () => true
    case 'always_off': return () => false
    case 'traceidratio': return byRatio
    case 'parentbased_always_on': return (parent) => parent === undefined || parent.sampled
    case 'parentbased_always_off': return (parent) => parent !== undefined && parent.sampled
    case 'parentbased_traceidratio': return (parent) => parent === undefined ? byRatio(undefined) : parent.sampled
  }
}
