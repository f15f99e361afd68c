/**
 * Protobuf's JSON form leaves out every field holding its zero value: 0, '', false, null,
 * and empty repeated fields. Applied recursively to objects; array elements are kept (each
 * one cleaned), because protobuf never drops an element of a repeated field.
 */
export function omitZero<T> (value: T): T {
  if (Array.isArray(value)) return value.map((item) => omitZero(item)) as T
  if (!isPlainObject(value)) return value
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) {
    const cleaned = omitZero(field)
    if (!isZero(cleaned)) out[key] = cleaned
  }
  return out as T
}

function isZero (value: unknown): boolean {
  return value === 0 || value === '' || value === false || value === null || value === undefined ||
    (Array.isArray(value) && value.length === 0)
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
