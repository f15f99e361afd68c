import { readFileSync } from 'node:fs'
import t from 'tap'
import { SETTINGS } from '../../src/config/config.js'
import { ERROR_KINDS, type ErrorKind } from '../../src/errors/catalogue.js'
import { VENDOR_CODE_TABLE } from '../../src/upstream/codes.js'

// The error pages against the code, as fastify's own errors docs are checked against its
// errors: docs/errors.md names every code of the catalogue with its HTTP status and no code
// that is gone, and docs/vendor-api.md maps every vendor code as src/upstream/codes.ts does.

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')
const CODES = Object.keys(ERROR_KINDS) as Array<keyof typeof ERROR_KINDS>

/** A markdown table's body rows under the header line that starts with `header`, as cells. */
function tableRows (text: string, header: string): string[][] {
  const lines = text.split('\n')
  const start = lines.findIndex((line) => line.startsWith(header))
  if (start === -1) return []
  const rows: string[][] = []
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    rows.push(line.split('|').slice(1, -1).map((cell) => cell.trim()))
  }
  return rows
}

const errorsPage = read('docs/errors.md')
// situation, HTTP, code
const rows = tableRows(errorsPage, '| situation | HTTP | code |')

t.test('docs/errors.md has a row for every code of the catalogue, with its status', async (t) => {
  t.ok(rows.length > 0, 'the table was found')
  for (const code of CODES) {
    const row = rows.find(([, , cell]) => cell === `\`${code}\``)
    t.ok(row, `${code} has a row`)
    t.equal(row?.[1], String(ERROR_KINDS[code].status), `${code} is ${ERROR_KINDS[code].status}`)
  }
})

t.test('docs/errors.md names no code that is gone, and each once', async (t) => {
  const inTable = rows.map(([, , cell]) => cell!.replace(/^`|`$/g, ''))
  t.same([...inTable].sort(), [...CODES].sort(), 'the table\'s codes are the catalogue\'s, once each')
  // anywhere on the page: an upper-case name in backticks is a code or a setting
  const settings = new Set(Object.keys(SETTINGS.shape))
  for (const [, name] of errorsPage.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`/g)) {
    t.ok(name! in ERROR_KINDS || settings.has(name!), `${name} is a code or a setting`)
  }
})

t.test('a Retry-After the page states is the catalogue\'s', async (t) => {
  for (const [situation = '', , cell = ''] of rows) {
    const code = cell.replace(/^`|`$/g, '') as keyof typeof ERROR_KINDS
    for (const [, seconds] of situation.matchAll(/`Retry-After: (\d+)`/g)) {
      t.equal(Number(seconds), (ERROR_KINDS[code] as ErrorKind).retryAfterS, `${code}: Retry-After ${seconds}`)
    }
  }
})

t.test('docs/vendor-api.md maps every vendor code as src/upstream/codes.ts does', async (t) => {
  const section = /^## Error codes\n([\s\S]*?)(?=^## )/m.exec(read('docs/vendor-api.md'))?.[1] ?? ''
  const vendorRows = tableRows(section, '| code ')
  t.ok(vendorRows.length > 0, 'the Error codes table was found')
  const documented = new Map<number, string>()
  let otherwise: string | undefined
  for (const [codes = '', , ours = ''] of vendorRows) {
    t.ok(ours in ERROR_KINDS, `${ours} is a code of the catalogue`)
    const numbers = codes.match(/\d+/g)
    if (numbers === null) otherwise = ours
    for (const number of numbers ?? []) {
      t.notOk(documented.has(Number(number)), `vendor ${number} is listed once`)
      documented.set(Number(number), ours)
    }
  }
  const mapped = new Map(VENDOR_CODE_TABLE.flatMap(([ours, codes]) => codes.map((code) => [code, ours] as const)))
  t.same([...documented.keys()].sort(), [...mapped.keys()].sort(), 'the same vendor codes')
  for (const [code, ours] of mapped) t.equal(documented.get(code), ours, `vendor ${code} → ${ours}`)
  t.equal(otherwise, 'UPSTREAM_ERROR', 'any other code is UPSTREAM_ERROR')
})
