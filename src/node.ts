import { pathToFileURL } from 'node:url'
import { serve, type ServerType } from '@hono/node-server'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createGateway, type GatewayConfig } from './app.js'
import { parseCatalogue } from './chat/catalogue.js'
import { localBackend } from './chat/local-backend.js'
import { openAiUpstream } from './chat/upstream.js'
import { tempoChain } from './escrow/chain.js'
import { viemEscrow } from './escrow/viem-escrow.js'
import { memoryStore } from './store/memory.js'

/** Starts the gateway on Node; resolves once it listens on 127.0.0.1. */
export function startGateway(config: GatewayConfig, port = 8787): Promise<{ server: ServerType; url: string }> {
  const { app } = createGateway(config)
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
      resolve({ server, url: `http://127.0.0.1:${info.port}` })
    })
  })
}

/** The gateway's configuration from environment variables (see README). */
export function configFromEnv(env: Record<string, string | undefined>): GatewayConfig {
  const required = (name: string) => {
    const value = env[name]
    if (!value) throw new Error(`${name} is required`)
    return value
  }
  const currency = (env.TOKEN_ADDRESS ?? '0x20c0000000000000000000000000000000000000') as Address
  const chain = tempoChain({ id: Number(required('CHAIN_ID')), rpcUrl: required('RPC_URL'), feeToken: currency })
  const payee = env.PAYEE_PRIVATE_KEY ? privateKeyToAccount(env.PAYEE_PRIVATE_KEY as Hex) : undefined
  const upstreamTimeoutMs = Number(env.UPSTREAM_TIMEOUT_MS ?? 60_000)
  return {
    realm: env.MPP_REALM ?? 'localhost',
    secretKey: required('MPP_SECRET_KEY').split(','),
    escrow: viemEscrow({ address: required('ESCROW_ADDRESS') as Address, chain, rpcUrl: required('RPC_URL'), ...(payee ? { payee } : {}) }),
    store: memoryStore(),
    recipient: (payee?.address ?? required('PAYEE_ADDRESS')) as Address,
    currency,
    backend: env.UPSTREAM_BASE_URL
      ? openAiUpstream({ baseUrl: env.UPSTREAM_BASE_URL, timeoutMs: upstreamTimeoutMs, ...(env.UPSTREAM_API_KEY ? { apiKey: env.UPSTREAM_API_KEY } : {}) })
      : localBackend(),
    ...(env.MODEL_CATALOGUE ? { catalogue: parseCatalogue(env.MODEL_CATALOGUE) } : {}),
    session: {
      bucketSize: BigInt(env.BUCKET_SIZE ?? '1000000'),
      bucketTtl: Number(env.BUCKET_TTL_MS ?? 3_600_000),
      // A reservation outlives the slowest upstream answer, so a crash frees it and a slow answer is still covered.
      reservationTtl: upstreamTimeoutMs + 30_000,
      verificationsPerSecond: Number(env.VOUCHER_RATE_LIMIT ?? 10),
      ...(env.SETTLE_THRESHOLD ? { settleThreshold: BigInt(env.SETTLE_THRESHOLD) } : {}),
    },
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { url } = await startGateway(configFromEnv(process.env), Number(process.env.PORT ?? 8787))
  console.log(`Gateway listening on ${url}`)
}
