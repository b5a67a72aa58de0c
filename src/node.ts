import { pathToFileURL } from 'node:url'
import { type ServerType, serve } from '@hono/node-server'
import { createGateway, type GatewayConfig } from './app.js'
import { gatewayConfigFromEnv } from './config.js'
import { pgliteStore, postgresStore, type SqlSessionStore } from './store/postgres.js'

/** Starts the gateway on Node; resolves once it listens on 127.0.0.1. */
export function startGateway(config: GatewayConfig, port = 8787): Promise<{ server: ServerType; url: string }> {
  const { app } = createGateway(config)
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
      resolve({ server, url: `http://127.0.0.1:${info.port}` })
    })
  })
}

/**
 * The store from the environment: `DATABASE_URL` set → PostgreSQL (what several
 * instances share); else PGlite in this process, kept in `PGLITE_DIR` (default
 * `.data/pglite`). Both connect and migrate on first use.
 */
export function storeFromEnv(env: Record<string, string | undefined>): SqlSessionStore {
  if (env.DATABASE_URL) return postgresStore({ connectionString: env.DATABASE_URL })
  return pgliteStore({ dataDir: env.PGLITE_DIR || '.data/pglite' })
}

/** The gateway's configuration from environment variables (see README), with the store `storeFromEnv` picks. */
export function configFromEnv(env: Record<string, string | undefined>): GatewayConfig {
  return gatewayConfigFromEnv(env, storeFromEnv(env))
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const store = storeFromEnv(process.env)
  const config = gatewayConfigFromEnv(process.env, store)
  await store.ready() // fail fast: connected and migrated before the first request
  const { server, url } = await startGateway(config, Number(process.env.PORT ?? 8787))
  console.log(`Gateway listening on ${url}`)
  const shutdown = () => server.close(() => void store.close().finally(() => process.exit(0)))
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
}
