import { buildApp, type AppConfig } from '../bootstrap/app.js'
import { loadConfig } from '../config/config.js'

/** Defaults plus placeholder credentials: the document never depends on (or reveals) the deployment's config. */
const DOCUMENT_CONFIG: AppConfig = {
  // placeholders, so that the callback route and the API-key scheme are documented (neither value is in the document)
  ...loadConfig({ LOG_LEVEL: 'silent', CALLBACK_TOKEN: 'placeholder-token-placeholder-token', API_KEYS: 'placeholder-key-placeholder-key-placeholder' }),
  vendor: { baseUrl: 'http://127.0.0.1:9', appId: 'placeholder', appSecret: 'placeholder', signKey: 'placeholder' }
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
