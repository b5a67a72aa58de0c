// The gateway's configuration from environment variables, shared by the Node
// entry (src/node.ts: `process.env`) and the Workers entry (src/worker.ts: the
// Worker's vars and secrets). Only the store differs between the two: it is
// passed in. No Node APIs here: this module also runs inside workerd.
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import type { GatewayConfig } from './app.js'
import { parseCatalogue } from './chat/catalogue.js'
import { localBackend } from './chat/local-backend.js'
import { openAiUpstream } from './chat/upstream.js'
import { tempoChain } from './escrow/chain.js'
import { viemEscrow } from './escrow/viem-escrow.js'
import type { SessionStore } from './store/port.js'

/** The variables the gateway reads (README: configuration). Secrets: `MPP_SECRET_KEY`, `PAYEE_PRIVATE_KEY`, `UPSTREAM_API_KEY`. */
export const gatewayEnvNames = [
  'MPP_REALM',
  'MPP_SECRET_KEY',
  'RPC_URL',
  'CHAIN_ID',
  'ESCROW_ADDRESS',
  'TOKEN_ADDRESS',
  'PAYEE_PRIVATE_KEY',
  'PAYEE_ADDRESS',
  'UPSTREAM_BASE_URL',
  'UPSTREAM_API_KEY',
  'UPSTREAM_TIMEOUT_MS',
  'MODEL_CATALOGUE',
  'BUCKET_SIZE',
  'BUCKET_TTL_MS',
  'VOUCHER_RATE_LIMIT',
  'SETTLE_THRESHOLD',
] as const

export type GatewayEnv = { readonly [name in (typeof gatewayEnvNames)[number]]?: string | undefined }

/**
 * Builds the gateway's configuration from `env`, failing fast on anything
 * required that is missing. An empty string counts as unset.
 */
export function gatewayConfigFromEnv(env: GatewayEnv, store: SessionStore): GatewayConfig {
  const required = (name: (typeof gatewayEnvNames)[number]) => {
    const value = env[name]
    if (!value) throw new Error(`${name} is required`)
    return value
  }
  const currency = (env.TOKEN_ADDRESS || '0x20c0000000000000000000000000000000000000') as Address
  const chain = tempoChain({ id: Number(required('CHAIN_ID')), rpcUrl: required('RPC_URL'), feeToken: currency })
  const payee = env.PAYEE_PRIVATE_KEY ? privateKeyToAccount(env.PAYEE_PRIVATE_KEY as Hex) : undefined
  const upstreamTimeoutMs = Number(env.UPSTREAM_TIMEOUT_MS || 60_000)
  return {
    realm: env.MPP_REALM || 'localhost',
    secretKey: required('MPP_SECRET_KEY').split(','),
    escrow: viemEscrow({ address: required('ESCROW_ADDRESS') as Address, chain, rpcUrl: required('RPC_URL'), ...(payee ? { payee } : {}) }),
    store,
    recipient: (payee?.address ?? required('PAYEE_ADDRESS')) as Address,
    currency,
    backend: env.UPSTREAM_BASE_URL
      ? openAiUpstream({
          baseUrl: env.UPSTREAM_BASE_URL,
          timeoutMs: upstreamTimeoutMs,
          ...(env.UPSTREAM_API_KEY ? { apiKey: env.UPSTREAM_API_KEY } : {}),
        })
      : localBackend(),
    ...(env.MODEL_CATALOGUE ? { catalogue: parseCatalogue(env.MODEL_CATALOGUE) } : {}),
    session: {
      bucketSize: BigInt(env.BUCKET_SIZE || '1000000'),
      bucketTtl: Number(env.BUCKET_TTL_MS || 3_600_000),
      // A reservation outlives the slowest upstream answer, so a crash frees it and a slow answer is still covered.
      reservationTtl: upstreamTimeoutMs + 30_000,
      verificationsPerSecond: Number(env.VOUCHER_RATE_LIMIT || 10),
      ...(env.SETTLE_THRESHOLD ? { settleThreshold: BigInt(env.SETTLE_THRESHOLD) } : {}),
    },
  }
}
