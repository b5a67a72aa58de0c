// The Node entry: the gateway app on node:http (src/node/server.ts: its limits,
// the envelope for what never reaches the app), configured from `process.env`,
// with the PostgreSQL store (several instances) or PGlite (one).
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { z } from 'zod'
import { createGateway, type GatewayConfig } from './app.js'
import { gatewayConfigFromEnv, integerVar } from './env.js'
import { ConfigError, parseConfig } from './errors/config-error.js'
import { health } from './health.js'
import { forwardedAddress, socketAddress } from './middleware/client-address.js'
import {
  defaultServerLimits,
  maxHeaderBytesCeiling,
  maxTimeoutMs,
  type NodeServerOptions,
  nodeServer,
  type ServerLimits,
} from './node/server.js'
import type { CloseWatcher } from './session/close-watch.js'
import type { TempoSession } from './session/engine.js'
import type { SettlementSweeper } from './session/sweeper.js'
import { pgliteStore, postgresStore, type SqlSessionStore } from './stores/postgres.js'

/**
 * Starts the gateway on Node (`nodeServer`: its limits, and the envelope for
 * what never reaches the app); resolves once it listens on 127.0.0.1. The
 * close watcher and the settlement sweeper, when configured, run while the
 * server does: started once it listens, stopped when it closes (`stop()`
 * resolves once a step in flight has finished: await it before closing the store).
 */
export function startGateway(
  config: GatewayConfig,
  port = 8787,
  options: NodeServerOptions = {},
): Promise<{
  server: Server
  url: string
  session: TempoSession
  watcher: CloseWatcher | undefined
  sweeper: SettlementSweeper | undefined
}> {
  const { app, session, watcher, sweeper } = createGateway(config)
  const server = nodeServer(app.fetch, { defaultHostname: '127.0.0.1', ...options })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      watcher?.start()
      sweeper?.start()
      server.once('close', () => void Promise.all([watcher?.stop(), sweeper?.stop()]))
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, session, watcher, sweeper })
    })
  })
}

const timeoutVar = integerVar(1, maxTimeoutMs).optional()
const nodeEnvSchema = z
  .object({
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
    MAX_HEADER_BYTES: integerVar(16 * 1024, maxHeaderBytesCeiling).optional(),
    HEADERS_TIMEOUT_MS: timeoutVar,
    REQUEST_TIMEOUT_MS: timeoutVar,
    KEEP_ALIVE_TIMEOUT_MS: timeoutVar,
    // Reverse proxies in front that append to X-Forwarded-For; unset: the header is never trusted.
    TRUSTED_PROXIES: z
      .string()
      .regex(/^([0-9]|1[0-6])$/, 'must be a decimal integer between 0 and 16')
      .transform(Number)
      .optional(),
  })
  .refine(
    (env) =>
      (env.HEADERS_TIMEOUT_MS ?? defaultServerLimits.headersTimeoutMs) <= (env.REQUEST_TIMEOUT_MS ?? defaultServerLimits.requestTimeoutMs),
    { path: ['HEADERS_TIMEOUT_MS'], message: `must be at most REQUEST_TIMEOUT_MS (default ${defaultServerLimits.requestTimeoutMs})` },
  )
const nodeEnvNames = [
  'DATABASE_URL',
  'PGLITE_DIR',
  'PORT',
  'MAX_HEADER_BYTES',
  'HEADERS_TIMEOUT_MS',
  'REQUEST_TIMEOUT_MS',
  'KEEP_ALIVE_TIMEOUT_MS',
  'TRUSTED_PROXIES',
] as const

/** The Node-only variables (the store, the port, the server's limits), validated; empty strings count as unset. */
function nodeEnv(env: Record<string, string | undefined>) {
  const given = Object.fromEntries(nodeEnvNames.flatMap((name) => (env[name] ? [[name, env[name]]] : [])))
  return parseConfig(nodeEnvSchema, given, 'environment', true)
}

/** The HTTP server's limits from the environment (README: configuration), defaults for those unset. */
export function serverLimitsFromEnv(env: Record<string, string | undefined>): ServerLimits {
  const vars = nodeEnv(env)
  return {
    maxHeaderBytes: vars.MAX_HEADER_BYTES ?? defaultServerLimits.maxHeaderBytes,
    headersTimeoutMs: vars.HEADERS_TIMEOUT_MS ?? defaultServerLimits.headersTimeoutMs,
    requestTimeoutMs: vars.REQUEST_TIMEOUT_MS ?? defaultServerLimits.requestTimeoutMs,
    keepAliveTimeoutMs: vars.KEEP_ALIVE_TIMEOUT_MS ?? defaultServerLimits.keepAliveTimeoutMs,
  }
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
  let limits: ServerLimits
  try {
    port = nodeEnv(process.env).PORT ?? 8787
    limits = serverLimitsFromEnv(process.env)
    config = configFromEnv(process.env)
  } catch (error) {
    // A configuration error names the variable and its rule, never its value.
    if (!(error instanceof ConfigError)) throw error
    console.error(`gateway configuration error: ${error.message}`)
    process.exit(1)
  }
  const store = config.store as SqlSessionStore
  await store.ready() // fail fast: connected and migrated before the first request
  const { server, url, session, watcher, sweeper } = await startGateway(config, port, { limits })
  // The secp256k1 backend is chosen once, at configuration (SECP256K1_BACKEND, README: configuration).
  console.log(`Gateway listening on ${url} (secp256k1 recovery: ${session.recoveryBackend})`)
  // The background jobs' steps in flight finish (their transactions mined or failed) before the store closes.
  const shutdown = () =>
    server.close(
      () =>
        void Promise.all([watcher?.stop(), sweeper?.stop()])
          .then(() => store.close())
          .finally(() => process.exit(0)),
    )
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
  // Whether closes and settlements can be sent, once at start (GET /health answers the same).
  console.log(JSON.stringify({ event: 'payee_readiness', ...(await health(session)).body }))
}
