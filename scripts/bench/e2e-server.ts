// Row 8, the server process: the gateway as `npm start` runs it (Node server,
// memory store, local completion backend) against the bench's anvil. Prints
// `listening <url>` once it accepts connections; stops on SIGTERM.
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { localBackend } from '../../src/chat/local-backend.js'
import { tempoChain } from '../../src/escrow/chain.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import { startGateway } from '../../src/node.js'
import { memoryStore } from '../../src/stores/memory.js'

const env = (name: string) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is required`)
  return value
}

const rpcUrl = env('BENCH_RPC_URL')
// Not test/harness/local-chain.ts: importing it derives ten mnemonic accounts (slow start).
const chain = tempoChain({ id: Number(env('BENCH_CHAIN_ID')), rpcUrl, feeToken: env('BENCH_CURRENCY') as Address })
const zeroFees = { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }
const payee = privateKeyToAccount(env('BENCH_PAYEE_KEY') as Hex)
const { server, url } = await startGateway(
  {
    realm: 'bench.local',
    secretKey: 'bench-e2e-secret-key-at-least-32-bytes',
    escrow: viemEscrow({ address: env('BENCH_ESCROW') as Address, chain, rpcUrl, payee, fees: zeroFees, pollingIntervalMs: 20 }),
    store: memoryStore(),
    recipient: payee.address,
    currency: env('BENCH_CURRENCY') as Address,
    backend: localBackend(),
    session: {
      bucketSize: BigInt(env('BENCH_BUCKET_SIZE')),
      bucketTtl: 3_600_000,
      reservationTtl: 90_000,
      // A client signing a voucher per request (BENCH_PAY=next-signed) needs more than the default 10 per channel per second.
      verificationsPerSecond: Number(process.env.BENCH_VOUCHER_RATE_LIMIT ?? 10),
    },
    // One JSON line per request is the default; silenced so the bench measures the gateway, not the terminal.
    logger: () => {},
  },
  0,
)
process.stdout.write(`listening ${url}\n`)
process.once('SIGTERM', () => {
  server.close()
  process.exit(0)
})
