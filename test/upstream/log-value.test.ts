import t from 'tap'
import { forLog, MAX_LOGGED_CHARS } from '../../src/upstream/log-value.js'

t.test('vendor text is kept whole up to the cap, and cut past it saying how long it was', async (t) => {
  const long = 'x'.repeat(MAX_LOGGED_CHARS + 1)
  const cases: Array<[string, string, number | undefined, string]> = [
    ['short text as it is', 'SUCCESS', undefined, 'SUCCESS'],
    ['empty', '', undefined, ''],
    ['exactly the cap', 'y'.repeat(MAX_LOGGED_CHARS), undefined, 'y'.repeat(MAX_LOGGED_CHARS)],
    ['one over the cap', long, undefined, `${'x'.repeat(MAX_LOGGED_CHARS)}…(${MAX_LOGGED_CHARS + 1} chars)`],
    ['a cap of the caller\'s', 'abcdefgh', 3, 'abc…(8 chars)'],
    ['never between the halves of a surrogate pair', 'ab😀cd', 3, 'ab…(6 chars)'],
    ['a pair that fits whole stays', 'a😀cd', 3, 'a😀…(5 chars)']
  ]
  for (const [name, value, maxChars, logged] of cases) t.equal(forLog(value, maxChars), logged, name)
})
