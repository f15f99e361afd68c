import t from 'tap'
import * as constantTime from '../../src/http/constant-time.js'

const KEY_A = 'ka_' + 'a1'.repeat(20)
const KEY_B = 'kb_' + 'b2'.repeat(20)

t.test('keys are compared in constant time over SHA-256 digests, against every key, with no early exit', async (t) => {
  const calls: Array<[number, number]> = []
  const { createKeyMatcher } = await t.mockImport<typeof import('../../src/http/api-key-matcher.js')>('../../src/http/api-key-matcher.js', {
    '../../src/http/constant-time.js': {
      ...constantTime,
      sameDigest: (a: Buffer, b: Buffer) => {
        calls.push([a.byteLength, b.byteLength])
        return constantTime.sameDigest(a, b)
      }
    }
  })
  const keys = [KEY_A, KEY_B, 'kc_' + 'c3'.repeat(20)]
  const match = createKeyMatcher(keys)
  for (const presented of [KEY_A, keys[2]!, 'wrong', 'x'.repeat(500)]) {
    calls.length = 0
    const id = match(presented)
    t.equal(calls.length, keys.length, `every key compared for a ${presented.length}-character key`)
    t.ok(calls.every(([a, b]) => a === 32 && b === 32), 'always two 32-byte digests')
    if (keys.includes(presented)) {
      t.match(id, /^key:[0-9a-f]{16}$/)
      t.notMatch(id, presented.slice(0, 8), 'the id is a hash, not the key')
    } else {
      t.equal(id, undefined)
    }
  }
  t.not(match(KEY_A), match(KEY_B), 'each key has its own id')
})
