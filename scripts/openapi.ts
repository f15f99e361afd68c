import { writeFile } from 'node:fs/promises'
import { generateOpenApiDocument } from '../src/openapi/generate.js'

const target = new URL('../../openapi/openapi.json', import.meta.url)
await writeFile(target, await generateOpenApiDocument())
console.log(`wrote ${target.pathname}`)
