import { pathToFileURL } from 'node:url'
import { serve, type ServerType } from '@hono/node-server'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createGateway, type GatewayConfig } from './app.js'
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
  return {
    realm: env.MPP_REALM ?? 'localhost',
    secretKey: required('MPP_SECRET_KEY').split(','),
    escrow: viemEscrow({ address: required('ESCROW_ADDRESS') as Address, chain, rpcUrl: required('RPC_URL'), ...(payee ? { payee } : {}) }),
    store: memoryStore(),
    recipient: (payee?.address ?? required('PAYEE_ADDRESS')) as Address,
    currency,
    demoPrice: BigInt(env.DEMO_PRICE ?? '10000'),
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { url } = await startGateway(configFromEnv(process.env), Number(process.env.PORT ?? 8787))
  console.log(`Gateway listening on ${url}`)
}
