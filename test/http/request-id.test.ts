import type { IncomingMessage } from 'node:http'
import t from 'tap'
import { genRequestId, REQUEST_ID_HEADER } from '../../src/http/request-id.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const idFor = (value: string | string[] | undefined): string => genRequestId({ headers: { [REQUEST_ID_HEADER]: value } } as unknown as IncomingMessage)

t.test('a sane incoming x-request-id is kept', async (t) => {
  for (const id of ['abc', 'req-1.2_3:4', 'A'.repeat(128), '3f2a58ad-69b7-4e86-b8a1-a3da6fd75cc1']) t.equal(idFor(id), id, id.slice(0, 20))
})

t.test('anything else is replaced by a fresh UUID', async (t) => {
  const replaced = [undefined, '', 'A'.repeat(129), 'has space', 'line\nbreak', '{"json":1}', '<script>', ['a', 'b']]
  for (const id of replaced) t.match(idFor(id), UUID, JSON.stringify(id)?.slice(0, 20) ?? 'none')
  t.not(idFor(undefined), idFor(undefined), 'a new one each time')
})
