// The gateway's configuration from environment variables, shared by the Node
// entry (src/node.ts: `process.env`) and the Workers entry (src/worker.ts: the
// Worker's vars and secrets). Only the store differs between the two: it is
// passed in. Every variable is validated here, at start: a bad one throws a
// `ConfigError` that names it and its rule, never its value. No Node APIs
// here: this module also runs inside workerd.
import type { Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { z } from 'zod'
import type { GatewayConfig } from './app.js'
import { parseCatalogue } from './chat/catalogue.js'
import { localBackend } from './chat/local-backend.js'
import { openAiUpstream } from './chat/openai-upstream.js'
import { ConfigError, parseConfig } from './errors/config-error.js'
import { tempoChain } from './escrow/chain.js'
import { knownNetworks } from './escrow/networks.js'
import { precompileEscrow } from './escrow/precompile-escrow.js'
import { viemEscrow } from './escrow/viem-escrow.js'
import { type BackendName, backendNames, type RecoveryBackend } from './secp256k1/backend.js'
import { BackendUnavailableError } from './secp256k1/errors.js'
import { selectRecoveryBackend } from './secp256k1/select.js'
import { tip20ChannelReserveAddress } from './session/v2/reserve.js'
import type { SessionStore } from './stores/store.js'
import { address, httpUrl } from './util/config.js'

/** The variables the gateway reads (README: configuration). Secrets: `MPP_SECRET_KEY`, `PAYEE_PRIVATE_KEY`, `UPSTREAM_API_KEY`, `METRICS_TOKEN`. */
export const gatewayEnvNames = [
  'MPP_REALM',
  'MPP_SECRET_KEY',
  'RPC_URL',
  'CHAIN_ID',
  'ESCROW_ADDRESS',
  'TOKEN_ADDRESS',
  'PAYEE_PRIVATE_KEY',
  'PAYEE_ADDRESS',
  'PAYEE_FEE_TOKEN',
  'PAYEE_MAX_FEE_PER_GAS',
  'PAYEE_PRIORITY_FEE_PER_GAS',
  'UPSTREAM_BASE_URL',
  'UPSTREAM_API_KEY',
  'UPSTREAM_TIMEOUT_MS',
  'MODEL_CATALOGUE',
  'BUCKET_SIZE',
  'BUCKET_TTL_MS',
  'VOUCHER_RATE_LIMIT',
  'OPEN_RATE_LIMIT',
  'MAX_BODY_BYTES',
  'SETTLE_THRESHOLD',
  'MAX_UNSETTLED_EXPOSURE',
  'CLOSE_WATCH_INTERVAL_MS',
  'SETTLE_AFTER_MS',
  'CLOSE_IDLE_AFTER_MS',
  'SWEEP_INTERVAL_MS',
  'METRICS_TOKEN',
  'SECP256K1_BACKEND',
  'STREAMING',
  'STREAM_WINDOW_TOKENS',
  'STREAM_VOUCHER_TIMEOUT_MS',
  'SESSION_PROTOCOL',
  'SESSION_OPERATOR',
] as const

export type GatewayEnv = { readonly [name in (typeof gatewayEnvNames)[number]]?: string | undefined }

const pathUsd = '0x20c0000000000000000000000000000000000000'

/** A decimal integer variable in [min, max], as a number. */
export const integerVar = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d+$/, `must be a decimal integer between ${min} and ${max}`)
    .transform(Number)
    .refine((value) => value >= min && value <= max, `must be a decimal integer between ${min} and ${max}`)
/** A positive amount in base units, as a bigint. */
const amountVar = z
  .string()
  .regex(/^[1-9]\d{0,37}$/, 'must be a positive decimal integer (base units)')
  .transform((value) => BigInt(value))
/** A price per gas (the chain's unit: attodollars on Tempo, wei elsewhere), zero allowed, as a bigint. */
const perGasVar = z
  .string()
  .regex(/^(0|[1-9]\d{0,37})$/, "must be a decimal integer (per gas, in the chain's fee unit)")
  .transform((value) => BigInt(value))
// RPC_URL, ESCROW_ADDRESS and TOKEN_ADDRESS default per known chain (src/escrow/networks.ts).
const requiredNames = ['MPP_SECRET_KEY', 'CHAIN_ID'] as const

const envSchema = z.object({
  MPP_REALM: z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1 to 255 visible ASCII characters')
    .optional(),
  // Never echoed: the rule is stated, the value is not.
  MPP_SECRET_KEY: z
    .string()
    .refine(
      (value) => value.split(',').every((key) => new TextEncoder().encode(key).length >= 32),
      'must be comma-separated keys of at least 32 bytes each',
    ),
  RPC_URL: httpUrl.optional(),
  CHAIN_ID: integerVar(1, 2 ** 53 - 1),
  ESCROW_ADDRESS: address.optional(),
  TOKEN_ADDRESS: address.optional(),
  PAYEE_PRIVATE_KEY: z
    .string()
    .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex private key')
    .optional(),
  PAYEE_ADDRESS: address.optional(),
  PAYEE_FEE_TOKEN: address.optional(),
  PAYEE_MAX_FEE_PER_GAS: perGasVar.optional(),
  PAYEE_PRIORITY_FEE_PER_GAS: perGasVar.optional(),
  UPSTREAM_BASE_URL: httpUrl.optional(),
  UPSTREAM_API_KEY: z.string().min(1).optional(),
  UPSTREAM_TIMEOUT_MS: integerVar(1, 3_600_000).optional(),
  MODEL_CATALOGUE: z.string().optional(),
  BUCKET_SIZE: amountVar.optional(),
  BUCKET_TTL_MS: integerVar(1).optional(),
  VOUCHER_RATE_LIMIT: integerVar(1, 1_000_000).optional(),
  OPEN_RATE_LIMIT: integerVar(1, 1_000_000).optional(),
  // Up to 64 MiB: the whole body is held in memory before it is priced.
  MAX_BODY_BYTES: integerVar(1024, 64 * 1024 * 1024).optional(),
  SETTLE_THRESHOLD: amountVar.optional(),
  MAX_UNSETTLED_EXPOSURE: amountVar.optional(),
  // The close watcher's pause between polls (Node); each poll is two RPC calls.
  CLOSE_WATCH_INTERVAL_MS: integerVar(100, 600_000).optional(),
  // The settlement sweeper (Node): its pause between passes, the age of unsettled spend it settles, the idleness it closes.
  SETTLE_AFTER_MS: integerVar(1).optional(),
  CLOSE_IDLE_AFTER_MS: integerVar(1).optional(),
  SWEEP_INTERVAL_MS: integerVar(1_000, 86_400_000).optional(),
  // A bearer token (RFC 6750 token68: what Hono's bearer-auth accepts); never echoed.
  METRICS_TOKEN: z
    .string()
    .regex(/^[A-Za-z0-9._~+/-]{32,}=*$/, 'must be at least 32 characters of A-Z a-z 0-9 . _ ~ + / - (then optional =)')
    .optional(),
  SECP256K1_BACKEND: z.enum(['auto', ...backendNames], { error: `must be one of auto, ${backendNames.join(', ')}` }).optional(),
  // `off` answers `stream: true` with mpp_streaming_unavailable (README: Streaming).
  STREAMING: z.enum(['on', 'off'], { error: 'must be on or off' }).optional(),
  STREAM_WINDOW_TOKENS: integerVar(1, 1_000_000).optional(),
  STREAM_VOUCHER_TIMEOUT_MS: integerVar(1, 3_600_000).optional(),
  // v1: the TempoStreamChannel escrow contract; v2: the TIP-20 channel reserve precompile (README: Session protocols).
  SESSION_PROTOCOL: z.enum(['v1', 'v2'], { error: 'must be v1 or v2' }).optional(),
  SESSION_OPERATOR: address.optional(),
})

/** The environment with empty strings as unset (a blank line in a .env file is no value). */
function present(env: GatewayEnv): Record<string, string> {
  return Object.fromEntries(gatewayEnvNames.flatMap((name) => (env[name] ? [[name, env[name]]] : [])))
}

/**
 * Builds the gateway's configuration from `env`, failing fast with a
 * `ConfigError` on anything missing or invalid. An empty string counts as unset.
 */
export function gatewayConfigFromEnv(env: GatewayEnv, store: SessionStore): GatewayConfig {
  const given = present(env)
  for (const name of requiredNames) if (given[name] === undefined) throw new ConfigError(name, 'is required')
  const vars = parseConfig(envSchema, given, 'environment', true)
  const network = knownNetworks[vars.CHAIN_ID]
  const rpcUrl = vars.RPC_URL ?? network?.rpcUrl
  if (rpcUrl === undefined) throw new ConfigError('RPC_URL', `is required for chain ${vars.CHAIN_ID} (no default for it)`)
  const sessionProtocol = vars.SESSION_PROTOCOL ?? 'v1'
  if (sessionProtocol === 'v1' && vars.SESSION_OPERATOR !== undefined)
    throw new ConfigError('SESSION_OPERATOR', 'needs SESSION_PROTOCOL=v2')
  // v2 captures exactly what was spent from any covering voucher: no step between vouchers to cap.
  if (sessionProtocol === 'v2' && vars.MAX_UNSETTLED_EXPOSURE !== undefined)
    throw new ConfigError('MAX_UNSETTLED_EXPOSURE', 'is a SESSION_PROTOCOL=v1 setting (v2 captures exactly what was spent)')
  // v2's escrow is the precompile, at one address on every Tempo chain; the known networks' escrows are v1 contracts.
  const escrowAddress = vars.ESCROW_ADDRESS ?? (sessionProtocol === 'v2' ? tip20ChannelReserveAddress : network?.escrow)
  if (escrowAddress === undefined) throw new ConfigError('ESCROW_ADDRESS', `is required for chain ${vars.CHAIN_ID} (no default for it)`)
  const currency = vars.TOKEN_ADDRESS ?? network?.currency ?? pathUsd
  // The payee pays its fees in the token it is paid in unless told otherwise: it holds that one.
  const chain = tempoChain({ id: vars.CHAIN_ID, rpcUrl, feeToken: vars.PAYEE_FEE_TOKEN ?? currency })
  const fees = { maxFeePerGas: vars.PAYEE_MAX_FEE_PER_GAS, maxPriorityFeePerGas: vars.PAYEE_PRIORITY_FEE_PER_GAS }
  if (fees.maxFeePerGas !== undefined && (fees.maxPriorityFeePerGas ?? 0n) > fees.maxFeePerGas) {
    throw new ConfigError('PAYEE_PRIORITY_FEE_PER_GAS', 'must not exceed PAYEE_MAX_FEE_PER_GAS')
  }
  const bucketSize = vars.BUCKET_SIZE ?? 1_000_000n
  if (vars.MAX_UNSETTLED_EXPOSURE !== undefined && vars.MAX_UNSETTLED_EXPOSURE < bucketSize) {
    throw new ConfigError('MAX_UNSETTLED_EXPOSURE', 'must be at least BUCKET_SIZE')
  }
  const payee = vars.PAYEE_PRIVATE_KEY === undefined ? undefined : privateKeyToAccount(vars.PAYEE_PRIVATE_KEY as Hex)
  const recipient = payee?.address.toLowerCase() ?? vars.PAYEE_ADDRESS
  if (recipient === undefined) throw new ConfigError('PAYEE_ADDRESS', 'is required when PAYEE_PRIVATE_KEY is not set')
  if (payee !== undefined && vars.PAYEE_ADDRESS !== undefined && vars.PAYEE_ADDRESS !== recipient) {
    throw new ConfigError('PAYEE_ADDRESS', "must be PAYEE_PRIVATE_KEY's address when both are set")
  }
  let catalogue: GatewayConfig['catalogue']
  if (vars.MODEL_CATALOGUE !== undefined) {
    try {
      catalogue = parseCatalogue(vars.MODEL_CATALOGUE)
    } catch {
      throw new ConfigError('MODEL_CATALOGUE', 'must be a JSON list of {id, inputTokenPrice, outputTokenPrice, maxOutputTokens}')
    }
  }
  const upstreamTimeoutMs = vars.UPSTREAM_TIMEOUT_MS ?? 60_000
  const recovery = recoveryBackend(vars.SECP256K1_BACKEND ?? 'auto')
  const escrow = (sessionProtocol === 'v2' ? precompileEscrow : viemEscrow)({
    address: escrowAddress,
    chain,
    rpcUrl,
    recovery,
    ...(payee ? { payee } : {}),
    fees: {
      ...(fees.maxFeePerGas === undefined ? {} : { maxFeePerGas: fees.maxFeePerGas }),
      ...(fees.maxPriorityFeePerGas === undefined ? {} : { maxPriorityFeePerGas: fees.maxPriorityFeePerGas }),
    },
  })
  return {
    realm: vars.MPP_REALM ?? 'localhost',
    secretKey: vars.MPP_SECRET_KEY.split(','),
    escrow,
    // The same escrow's close events: a payer's forced close is followed (README: Operating a payee).
    closeWatch: { events: escrow, ...(vars.CLOSE_WATCH_INTERVAL_MS ? { intervalMs: vars.CLOSE_WATCH_INTERVAL_MS } : {}) },
    sweep: vars.SWEEP_INTERVAL_MS ? { intervalMs: vars.SWEEP_INTERVAL_MS } : {},
    store,
    recipient: recipient as `0x${string}`,
    currency,
    backend:
      vars.UPSTREAM_BASE_URL === undefined
        ? localBackend(catalogue ? { catalogue } : {})
        : openAiUpstream({
            baseUrl: vars.UPSTREAM_BASE_URL,
            timeoutMs: upstreamTimeoutMs,
            ...(vars.UPSTREAM_API_KEY ? { apiKey: vars.UPSTREAM_API_KEY } : {}),
          }),
    ...(catalogue ? { catalogue } : {}),
    ...(vars.MAX_BODY_BYTES ? { maxBodyBytes: vars.MAX_BODY_BYTES } : {}),
    ...(vars.METRICS_TOKEN ? { metricsToken: vars.METRICS_TOKEN } : {}),
    streaming:
      vars.STREAMING === 'off'
        ? false
        : {
            ...(vars.STREAM_WINDOW_TOKENS ? { windowTokens: vars.STREAM_WINDOW_TOKENS } : {}),
            ...(vars.STREAM_VOUCHER_TIMEOUT_MS ? { voucherTimeoutMs: vars.STREAM_VOUCHER_TIMEOUT_MS } : {}),
          },
    session: {
      sessionProtocol,
      ...(vars.SESSION_OPERATOR ? { operator: vars.SESSION_OPERATOR } : {}),
      bucketSize,
      bucketTtl: vars.BUCKET_TTL_MS ?? 3_600_000,
      // A reservation outlives the slowest upstream answer, so a crash frees it and a slow answer is still covered.
      reservationTtl: upstreamTimeoutMs + 30_000,
      verificationsPerSecond: vars.VOUCHER_RATE_LIMIT ?? 10,
      opensPerMinute: vars.OPEN_RATE_LIMIT ?? 30,
      recovery,
      ...(vars.SETTLE_THRESHOLD ? { settleThreshold: vars.SETTLE_THRESHOLD } : {}),
      ...(vars.MAX_UNSETTLED_EXPOSURE ? { maxUnsettledExposure: vars.MAX_UNSETTLED_EXPOSURE } : {}),
      // Earned money is not left unsettled for more than a day, nor a deposit locked in a channel unused for 30 days.
      settleAfter: vars.SETTLE_AFTER_MS ?? 86_400_000,
      closeIdleAfter: vars.CLOSE_IDLE_AFTER_MS ?? 30 * 86_400_000,
    },
  }
}

/** The secp256k1 backend `SECP256K1_BACKEND` names (`auto`: the fastest this runtime loads); a `ConfigError` when this runtime cannot load it. */
function recoveryBackend(preference: 'auto' | BackendName): RecoveryBackend {
  try {
    return selectRecoveryBackend(preference === 'auto' ? undefined : preference).backend
  } catch (error) {
    if (!(error instanceof BackendUnavailableError)) throw error
    throw new ConfigError('SECP256K1_BACKEND', `names ${preference}, which this runtime cannot load (auto picks what it can)`)
  }
}
