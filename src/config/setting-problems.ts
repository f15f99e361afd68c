import { z } from 'zod'

/**
 * A zod error map that puts zod's own messages ("Invalid input: expected number, received NaN")
 * in plain words, from the issue and the setting's schema. A message a schema states itself
 * still wins. Values are never repeated: some settings are secrets.
 */
export function plainWords (settings: Record<string, z.ZodType>): z.core.$ZodErrorMap {
  return (issue) => {
    const setting = settings[String(issue.path?.[0])]
    const number = setting === undefined || issue.path?.length !== 1 ? undefined : numberOf(setting)
    // every way a number can fail gets the whole range: "-1" and "eighty" need the same answer
    if (number !== undefined) return `must be ${numberRange(number)}`
    switch (issue.code) {
      case 'invalid_value': return `must be ${oneOf(issue.values.map(String))}`
      case 'too_small': return `must be ${issue.inclusive === false ? 'more than' : 'at least'} ${String(issue.minimum)}${unit(issue.origin)}`
      case 'too_big': return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${String(issue.maximum)}${unit(issue.origin)}`
      case 'invalid_format': return issue.format === 'url' ? 'must be a URL' : `must be a valid ${issue.format}`
      case 'invalid_type': return `must be ${issue.expected === 'string' ? 'text' : issue.expected}`
      default: return 'is not valid'
    }
  }
}

/** `NAME: message`; an entry of a list by its place, counted from 1: `API_KEYS: the 2nd entry must be ...`. */
export function describeIssue (issue: z.core.$ZodIssue): string {
  const [name, index] = issue.path
  const entry = typeof index === 'number' ? `the ${ordinal(index + 1)} entry ` : ''
  return `${String(name)}: ${entry}${issue.message}`
}

function numberOf (schema: z.ZodType): z.ZodNumber | undefined {
  let inner: z.ZodType = schema
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType
  return inner instanceof z.ZodNumber ? inner : undefined
}

function numberRange (schema: z.ZodNumber): string {
  const kind = schema.isInt ? 'a whole number' : 'a number'
  // an integer schema without bounds of its own reports the safe-integer limits
  const min = bound(schema.minValue)
  const max = bound(schema.maxValue)
  if (min !== undefined && max !== undefined) return `${kind} from ${min} to ${max}`
  if (min !== undefined) return `${kind}, ${min} or more`
  if (max !== undefined) return `${kind}, ${max} or less`
  return kind
}

function bound (value: number | null): number | undefined {
  return value === null || Math.abs(value) >= Number.MAX_SAFE_INTEGER ? undefined : value
}

function oneOf (values: string[]): string {
  return values.length === 2 ? `${values[0]} or ${values[1]}` : `one of ${values.join(', ')}`
}

function unit (origin: string): string {
  if (origin === 'string') return ' characters'
  if (origin === 'array' || origin === 'set') return ' entries'
  return ''
}

const ORDINAL_SUFFIX: Record<string, string> = { one: 'st', two: 'nd', few: 'rd', other: 'th' }
const ordinalRule = new Intl.PluralRules('en', { type: 'ordinal' })

function ordinal (n: number): string {
  return `${n}${ORDINAL_SUFFIX[ordinalRule.select(n)] ?? 'th'}`
}
