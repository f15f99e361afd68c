import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync } from 'fastify'
import { AppError } from '../errors/catalogue.js'

/** The repository root, found from src/routes (tests) or dist/src/routes (npm start): the folder that holds public/demo/. */
function projectRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'public', 'demo')) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
}

const root = projectRoot()
const clientDir = join(root, 'clients', 'typescript')

/** openapi-fetch's ESM build, where the client package resolves it (not installed: a path that answers 404). */
function openapiFetchFile (): string {
  try {
    return join(dirname(createRequire(join(clientDir, 'package.json')).resolve('openapi-fetch/package.json')), 'dist', 'index.mjs')
  } catch {
    return join(clientDir, 'node_modules', 'openapi-fetch', 'dist', 'index.mjs')
  }
}

const HTML = 'text/html; charset=utf-8'
const JS = 'text/javascript; charset=utf-8'

/** Every file the page loads, by URL: the page, its module, style and icon, the built client and openapi-fetch (the import map names the last two). */
const FILES: Record<string, { path: string, type: string }> = {
  '/demo': { path: join(root, 'public', 'demo', 'index.html'), type: HTML },
  '/demo/demo.js': { path: join(root, 'public', 'demo', 'demo.js'), type: JS },
  '/demo/demo.css': { path: join(root, 'public', 'demo', 'demo.css'), type: 'text/css; charset=utf-8' },
  '/demo/favicon.svg': { path: join(root, 'public', 'demo', 'favicon.svg'), type: 'image/svg+xml' },
  '/demo/client/index.js': { path: join(clientDir, 'dist', 'index.js'), type: JS },
  '/demo/vendor/openapi-fetch.js': { path: openapiFetchFile(), type: JS }
}

/**
 * The page's CSP: its own scripts, styles and API calls, nothing else. The one inline script is
 * the import map (browsers have no external import maps), allowed by its hash and nothing wider.
 */
export function demoCsp (html: string): string {
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? ''
  const hash = createHash('sha256').update(importMap).digest('base64')
  return [
    "default-src 'none'",
    "base-uri 'none'",
    "connect-src 'self'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "img-src 'self'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self'"
  ].join('; ')
}

/**
 * /demo, registered in demo mode only: a plain page that follows an order live through the typed
 * client (clients/typescript, built by `npm run client:build`), as a web developer would.
 */
export const demoRoutes: FastifyPluginAsync = async (app) => {
  const cache = new Map<string, string>()
  for (const [url, file] of Object.entries(FILES)) {
    const urls = url === '/demo' ? ['/demo', '/demo/'] : [url]
    for (const path of urls) {
      app.get(path, { schema: { hide: true } }, async (request, reply) => {
        let body = cache.get(url)
        if (body === undefined) {
          try {
            body = await readFile(file.path, 'utf8')
          } catch {
            throw new AppError('NOT_FOUND', { detail: `${url} is missing from this installation: \`npm run build\` builds it in a checkout; the image ships it built.` })
          }
          cache.set(url, body)
        }
        if (file.type === HTML) reply.header('content-security-policy', demoCsp(body))
        return reply.header('cache-control', 'no-cache').type(file.type).send(body)
      })
    }
  }
}
