// The Node entry: the gateway app on @hono/node-server, configured from
// `process.env`, with the PostgreSQL store (several instances) or PGlite (one).
import { pathToFileURL } from 'node:url'
import { type ServerType, serve } from '@hono/node-server'
import { z } from 'zod'
import { createGateway, type GatewayConfig } from './app.js'
import { gatewayConfigFromEnv } from './env.js'
import { ConfigError, parseConfig } from './errors/config-error.js'
import { forwardedAddress, socketAddress } from './middleware/client-address.js'
import { pgliteStore, postgresStore, type SqlSessionStore } from './stores/postgres.js'

/** Starts the gateway on Node; resolves once it listens on 127.0.0.1. */
export function startGateway(config: GatewayConfig, port = 8787): Promise<{ server: ServerType; url: string }> {
  const { app } = createGateway(config)
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
      resolve({ server, url: `http://127.0.0.1:${info.port}` })
    })
  })
}

const nodeEnvSchema = z.object({
  DATABASE_URL: z
    .string()
    .refine((value) => /^postgres(ql)?:\/\/[^/]/.test(value) && URL.canParse(value), 'must be a postgres:// connection URL with a host')
    .optional(),
  PGLITE_DIR: z.string().optional(),
  PORT: z
    .string()
    .regex(/^\d{1,5}$/, 'must be a port number between 0 and 65535')
    .transform(Number)
    .refine((port) => port <= 65_535, 'must be a port number between 0 and 65535')
    .optional(),
  // Reverse proxies in front that append to X-Forwarded-For; unset: the header is never trusted.
  TRUSTED_PROXIES: z
    .string()
    .regex(/^([0-9]|1[0-6])$/, 'must be a decimal integer between 0 and 16')
    .transform(Number)
    .optional(),
})

/** The Node-only variables (the store and the port), validated; empty strings count as unset. */
function nodeEnv(env: Record<string, string | undefined>) {
  const given = Object.fromEntries(
    ['DATABASE_URL', 'PGLITE_DIR', 'PORT', 'TRUSTED_PROXIES'].flatMap((name) => (env[name] ? [[name, env[name]]] : [])),
  )
  return parseConfig(nodeEnvSchema, given, 'environment', true)
}

/**
 * The store from the environment: `DATABASE_URL` set → PostgreSQL (what several
 * instances share); else PGlite in this process, kept in `PGLITE_DIR` (default
 * `.data/pglite`). Both connect and migrate on first use.
 */
export function storeFromEnv(env: Record<string, string | undefined>): SqlSessionStore {
  const { DATABASE_URL, PGLITE_DIR } = nodeEnv(env)
  if (DATABASE_URL !== undefined) return postgresStore({ connectionString: DATABASE_URL })
  return pgliteStore({ dataDir: PGLITE_DIR ?? '.data/pglite' })
}

/**
 * The gateway's configuration from environment variables (see README), with the
 * store `storeFromEnv` picks; a client's address is the socket's peer, or with
 * `TRUSTED_PROXIES` what the outermost trusted proxy saw.
 */
export function configFromEnv(env: Record<string, string | undefined>): GatewayConfig {
  const { TRUSTED_PROXIES } = nodeEnv(env)
  const clientAddress = TRUSTED_PROXIES ? forwardedAddress(TRUSTED_PROXIES) : socketAddress
  return { ...gatewayConfigFromEnv(env, storeFromEnv(env)), clientAddress }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let config: GatewayConfig
  let port: number
  try {
    port = nodeEnv(process.env).PORT ?? 8787
    config = configFromEnv(process.env)
  } catch (error) {
    // A configuration error names the variable and its rule, never its value.
    if (!(error instanceof ConfigError)) throw error
    console.error(`gateway configuration error: ${error.message}`)
    process.exit(1)
  }
  const store = config.store as SqlSessionStore
  await store.ready() // fail fast: connected and migrated before the first request
  const { server, url } = await startGateway(config, port)
  console.log(`Gateway listening on ${url}`)
  const shutdown = () => server.close(() => void store.close().finally(() => process.exit(0)))
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
}
