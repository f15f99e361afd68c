import { readFile } from 'node:fs/promises'
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript'
import t from 'tap'

// the client's types, as `npm run client:generate` writes them (openapi-typescript's CLI: its header, then the types)
t.test('clients/typescript/src/schema.ts is what openapi-typescript generates from openapi/openapi.json (run `npm run client:generate`)', async (t) => {
  const committed = await readFile(new URL('../../clients/typescript/src/schema.ts', import.meta.url), 'utf8')
  const generated = COMMENT_HEADER + astToString(await openapiTS(new URL('../../openapi/openapi.json', import.meta.url)))
  t.equal(generated, committed)
})
