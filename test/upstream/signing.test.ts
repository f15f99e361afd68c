import t from 'tap'
import { canonicalString, encodePayload, signParams } from '../../src/upstream/signing.js'

// The vector from the vendor's Go library test, nested object included.
const GO_VECTOR = {
  params: {
    machine_no: '16327128',
    password: '599240',
    timestamp: '1722846152',
    os: { version: '12.0.0', platform: 'linux', family: 'unix', locale: 'zh-CN', hostname: 'debian', os_type: 'linux', serial_sn: 'unknown', model_no: 'unknown' }
  },
  signKey: 'ds069ed4223ac1660f',
  sign: 'AC7822FA3BA8DE95E73486CDC7B60CDF'
}

t.test('the Go library vector signs to its published value', async (t) => {
  t.equal(signParams(GO_VECTOR.params, GO_VECTOR.signKey), GO_VECTOR.sign)
})

t.test('nested objects flatten as key[sub] and are form-encoded', async (t) => {
  const text = canonicalString(GO_VECTOR.params, GO_VECTOR.signKey)
  t.ok(text.startsWith('machine_no=16327128&os%5Bfamily%5D=unix&os%5Bhostname%5D=debian&'))
  t.ok(text.endsWith('&password=599240&timestamp=1722846152&key=ds069ed4223ac1660f'))
  t.equal(canonicalString({ list: ['a', 'b'] }, 'k'), 'list%5B0%5D=a&list%5B1%5D=b&key=k')
})

t.test('empty, null and NULL values are dropped; sign itself is never signed', async (t) => {
  const base = { machine_no: '16327129', timestamp: '1714115742' }
  const expected = signParams(base, 'k')
  t.equal(signParams({ ...base, empty: '', nothing: null, undef: undefined, shouted: 'NULL' }, 'k'), expected)
  t.equal(signParams({ ...base, sign: 'WHATEVER' }, 'k'), expected)
  t.equal(canonicalString({ ...base, empty: '' }, 'k'), 'machine_no=16327129&timestamp=1714115742&key=k')
})

t.test('keys sort in byte order, upper case before lower case', async (t) => {
  t.equal(canonicalString({ b: '1', a: '2', B: '3', _: '4', A1: '5' }, 'k'), 'A1=5&B=3&_=4&a=2&b=1&key=k')
})

t.test('keys beyond the BMP sort by their UTF-8 bytes, not by UTF-16 code units', async (t) => {
  // U+FF5E is EF BD 9E in UTF-8, U+1F600 is F0 9F 98 80: the fullwidth tilde first, as Go sorts
  // them; JavaScript's < would put the emoji's surrogate (0xD83D) first
  t.equal(canonicalString({ '\u{1F600}': '1', '\uFF5E': '2' }, 'k'), '%EF%BD%9E=2&%F0%9F%98%80=1&key=k')
  t.equal(canonicalString({ b: '1', '\u{1F600}': '2', a: '3' }, 'k'), 'a=3&b=1&%F0%9F%98%80=2&key=k')
})

t.test('values are escaped as Go url.QueryEscape does', async (t) => {
  t.equal(canonicalString({ u: 'https://x/y', s: 'a b', r: "!'()*~-_." }, 'k'),
    'r=%21%27%28%29%2A~-_.&s=a+b&u=https%3A%2F%2Fx%2Fy&key=k')
  t.equal(canonicalString({ n: 12, f: false, t: true }, 'k'), 'f=false&n=12&t=true&key=k')
})

t.test('sign is 32 uppercase hex digits (MD5)', async (t) => {
  t.match(signParams({ machine_no: '16327129', timestamp: '1' }, 'k'), /^[0-9A-F]{32}$/)
})

t.test('payload is padded standard base64 of the parameters plus their sign', async (t) => {
  const params = { machine_no: '16327129', timestamp: '1714115742' }
  const payload = encodePayload(params, 'k')
  t.match(payload, /^[A-Za-z0-9+/]+={0,2}$/)
  t.equal(payload.length % 4, 0)
  const decoded = JSON.parse(Buffer.from(payload, 'base64').toString('utf8'))
  t.same(decoded, { ...params, sign: signParams(params, 'k') })
})

t.test('empty values are left out of the payload as well as the sign, as the Go library does', async (t) => {
  const decode = (payload: string) => JSON.parse(Buffer.from(payload, 'base64').toString('utf8'))
  t.same(decode(encodePayload({ a: '', b: null, c: 'NULL', d: '1', e: undefined }, 'k')), { d: '1', sign: signParams({ d: '1' }, 'k') })
  // only scalars are judged empty: an object or list goes in whole, and its sign skips its empty leaves
  const nested = { d: '1', os: { platform: 'linux', locale: '' }, list: ['NULL'] }
  t.same(decode(encodePayload(nested, 'k')), { ...nested, sign: signParams(nested, 'k') })
  t.equal(signParams(nested, 'k'), signParams({ d: '1', os: { platform: 'linux' } }, 'k'), 'the nested empty leaf and the NULL element are not signed')
})
