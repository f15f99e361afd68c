import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'clients/typescript/dist/**', 'clients/typescript/src/schema.ts', 'coverage/**', '.tap/**', 'node_modules/**'] })
]
