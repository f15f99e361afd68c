import * as crypto from 'node:crypto'
import t from 'tap'
import { sameDigest, sameSecret, secretDigest } from '../../src/http/constant-time.js'

t.test('equal secrets match, any other does not, whatever their lengths', async (t) => {
  t.ok(sameSecret('s3cr3t-token', 's3cr3t-token'))
  t.notOk(sameSecret('s3cr3t-token', 's3cr3t-tokeN'))
  t.notOk(sameSecret('s3cr3t', 's3cr3t-token'), 'a prefix is not the secret')
  t.notOk(sameSecret('', 's3cr3t-token'))
  t.ok(sameDigest(secretDigest('key'), secretDigest('key')))
  t.notOk(sameDigest(secretDigest('key'), secretDigest('kez')))
})

t.test('secrets are compared with timingSafeEqual over 32-byte SHA-256 digests, whatever their lengths', async (t) => {
  const calls: Array<[number, number]> = []
  const { sameSecret } = await t.mockImport<typeof import('../../src/http/constant-time.js')>('../../src/http/constant-time.js', {
    'node:crypto': {
      ...crypto,
      timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
        calls.push([a.byteLength, b.byteLength])
        return crypto.timingSafeEqual(a, b)
      }
    }
  })
  for (const given of ['x', 'x'.repeat(500), 'the-expected-secret']) t.equal(sameSecret(given, 'the-expected-secret'), given === 'the-expected-secret')
  t.same(calls, [[32, 32], [32, 32], [32, 32]], 'one comparison each, always of two digests')
  t.same(secretDigest('abc'), crypto.createHash('sha256').update('abc', 'utf8').digest(), 'SHA-256 of the UTF-8 text')
})
