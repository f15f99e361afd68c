import t from 'tap'
import { MAX_WAIT_S, preferredWait } from '../../src/routes/prefer.js'

t.test('the wait preference of RFC 7240, clamped, malformed ones ignored', async (t) => {
  const cases: Array<[string | string[] | undefined, number | undefined]> = [
    [undefined, undefined],
    ['wait=10', 10],
    ['WAIT=5', 5],
    ['wait = 7', 7],
    ['wait="8"', 8],
    ['respond-async, wait=12', 12],
    [['return=minimal', 'wait=3'], 3],
    ['wait=10; foo=bar', 10],
    ['wait=31', MAX_WAIT_S],
    ['wait=999999999', MAX_WAIT_S],
    ['wait=0', undefined],
    ['wait=-1', undefined],
    ['wait=1.5', undefined],
    ['wait=abc', undefined],
    ['wait', undefined],
    ['waiting=5', undefined],
    ['', undefined]
  ]
  for (const [header, expected] of cases) t.equal(preferredWait(header), expected, JSON.stringify(header))
})
