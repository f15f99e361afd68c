import { buildApp, type AppConfig } from './app.js'

/** Placeholder settings: the document never depends on (or reveals) the deployment's config. */
const DOCUMENT_CONFIG: AppConfig = {
  port: 0,
  host: '127.0.0.1',
  logLevel: 'silent',
  production: false,
  vendor: { baseUrl: 'http://127.0.0.1:9', appId: 'placeholder', appSecret: 'placeholder', signKey: 'placeholder' },
  vendorTimeoutMs: 5000,
  vendorMaxBodyBytes: 1024 * 1024,
  apiKeys: [],
  trustProxy: false,
  rateLimitMax: 120,
  rateLimitWindowMs: 60_000,
  corsOrigins: null,
  metricsPort: 0,
  metricsHost: '127.0.0.1'
}

/** The OpenAPI document as the code generates it; `npm run openapi` commits it to openapi/openapi.json. */
export async function generateOpenApiDocument (): Promise<string> {
  const app = await buildApp(DOCUMENT_CONFIG)
  try {
    await app.ready()
    return JSON.stringify(app.swagger(), null, 2) + '\n'
  } finally {
    await app.close()
  }
}
