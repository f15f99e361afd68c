import t from 'tap'
import { createSigner, processSigningKey } from '../../../src/shared-state/redis/signing.js'

const KEY = 'test-redis-signing-key-0123456789abcdef'
const OLD = 'the-key-before-the-rotation-0123456789'
const signer = createSigner({ current: KEY }, 'fleet:')

t.test('what is sealed for a name opens for that name, with the same key, unchanged', async (t) => {
  const sealed = signer.seal('outcome:54:16327129', '{"a":1}')
  t.match(sealed, /^v1\.[A-Za-z0-9_-]{43}\.\{"a":1\}$/, 'version, HMAC-SHA256 in base64url, the payload as it is')
  t.equal(signer.open('outcome:54:16327129', sealed), '{"a":1}')
  t.same(signer.openJson('outcome:54:16327129', signer.sealJson('outcome:54:16327129', { a: 1 })), { value: { a: 1 } })
})

t.test('nothing else opens', async (t) => {
  const sealed = signer.seal('outcome:54:16327129', '{"a":1}')
  const mac = sealed.slice(3, 46)
  const cases: Record<string, [string, string]> = {
    'another name': ['outcome:99:16327129', sealed],
    'another prefix': ['outcome:54:16327129', createSigner({ current: KEY }, 'other:').seal('outcome:54:16327129', '{"a":1}')],
    'another key': ['outcome:54:16327129', createSigner({ current: OLD }, 'fleet:').seal('outcome:54:16327129', '{"a":1}')],
    'the payload changed': ['outcome:54:16327129', sealed.replace('"a":1', '"a":2')],
    'the HMAC changed': ['outcome:54:16327129', `v1.${mac.startsWith('A') ? 'B' : 'A'}${mac.slice(1)}.{"a":1}`],
    // the last character's two spare bits: the same 32 bytes, spelled another way
    'the HMAC spelled otherwise': ['outcome:54:16327129', `v1.${mac.slice(0, -1)}${String.fromCharCode(mac.charCodeAt(42) ^ 1)}.{"a":1}`],
    'an HMAC cut short': ['outcome:54:16327129', `v1.${mac.slice(0, 20)}.{"a":1}`],
    'no HMAC': ['outcome:54:16327129', '{"a":1}'],
    'another version': ['outcome:54:16327129', `v2${sealed.slice(2)}`],
    empty: ['outcome:54:16327129', '']
  }
  for (const [name, [key, value]] of Object.entries(cases)) t.equal(signer.open(key, value), undefined, name)
  t.same(signer.openJson('n', signer.seal('n', 'not json')), { rejected: 'schema' })
  t.same(signer.openJson('n', 'not sealed'), { rejected: 'signature' })
})

t.test('a rotation: the previous key still verifies, only the current one signs', async (t) => {
  const before = createSigner({ current: OLD }, 'fleet:')
  const during = createSigner({ current: KEY, previous: OLD }, 'fleet:')
  t.equal(during.open('k', before.seal('k', 'x')), 'x', 'what the old key signed')
  t.equal(during.open('k', signer.seal('k', 'x')), 'x', 'what the new key signed')
  t.equal(before.open('k', during.seal('k', 'x')), undefined, 'signed with the current key only')
  t.equal(signer.open('k', before.seal('k', 'x')), undefined, 'after the rotation, the old key is refused')
})

t.test('without a key (never in production), this process\'s own random one: nobody else\'s opens', async (t) => {
  t.equal(processSigningKey(), processSigningKey(), 'one per process')
  t.match(processSigningKey(), /^[0-9a-f]{64}$/)
  const own = createSigner({ current: null }, 'fleet:')
  t.equal(own.open('k', own.seal('k', 'x')), 'x')
  t.equal(signer.open('k', own.seal('k', 'x')), undefined)
  t.equal(own.open('k', signer.seal('k', 'x')), undefined)
})

t.test('the key appears in nothing the signer gives out', async (t) => {
  const sealed = signer.seal('k', KEY.slice(0, 4))
  t.notMatch(sealed, KEY)
  t.notMatch(JSON.stringify(signer), KEY)
  t.notMatch(String(Object.values(signer)), KEY)
})

t.test('what is longer than any value of the fleet is not opened: no HMAC over a planted 10 MB, and `size` as the reason', async (t) => {
  const signer = createSigner({ current: KEY }, 'fleet:', { maxChars: 200 })
  const small = signer.sealJson('outcome:1', { order: 1 })
  t.same(signer.openJson('outcome:1', small), { value: { order: 1 } })
  const big = signer.sealJson('outcome:1', { padding: 'x'.repeat(300) })
  t.ok(signer.tooBig(big))
  t.equal(signer.open('outcome:1', big), undefined, 'signed by the fleet, but too big to be one of its values')
  t.same(signer.openJson('outcome:1', big), { rejected: 'size' })
  t.notOk(createSigner({ current: KEY }, 'fleet:').tooBig(big), 'without a bound, nothing is too big')
})
