// One gateway instance as its own process, for the multi-instance and crash
// tests: the real gateway (createGateway) on the PostgreSQL store, the escrow on
// a given anvil, the fake upstream. Run with `npx tsx` (or `node --import tsx`);
// prints one line `{"port":N}` once listening; exits when its stdin closes.
//
// Environment: DATABASE_URL, RPC_URL, ESCROW_ADDRESS, UPSTREAM_BASE_URL,
// MPP_SECRET_KEY, and optionally BUCKET_SIZE, RESERVATION_TTL_MS,
// VOUCHER_RATE_LIMIT, OPEN_RATE_LIMIT. A client's address is the socket's peer.
//
// Fault injection (here only, never in src/): CRASH_AT=after-reserve|after-commit
// SIGKILLs this process on the first paid request whose last message contains
// "CRASH": after-reserve when the handler starts (the reservation is written,
// nothing is committed); after-commit as soon as the store has committed its
// charge, before the response leaves.
import { serve } from '@hono/node-server'
import type { Address, Hex } from 'viem'
import { pathUsdAddress } from '../../contracts-abi/tip20.js'
import { createGateway } from '../../src/app.js'
import type { ChatBackend } from '../../src/chat/backend.js'
import { openAiUpstream } from '../../src/chat/openai-upstream.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import { socketAddress } from '../../src/middleware/client-address.js'
import { postgresStore } from '../../src/stores/postgres.js'
import type { SessionStore } from '../../src/stores/store.js'
import { anvilChain, testAccounts, zeroFees } from '../harness/local-chain.js'
import { catalogue } from './gateway.js'

const env = (name: string) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is required`)
  return value
}
const crashAt = process.env.CRASH_AT as 'after-reserve' | 'after-commit' | undefined
const kill = (): never => {
  process.kill(process.pid, 'SIGKILL')
  throw new Error('unreachable')
}

const rpcUrl = env('RPC_URL')
const payee = testAccounts[4]!
const escrow = viemEscrow({
  address: env('ESCROW_ADDRESS') as Address,
  chain: anvilChain(rpcUrl, true),
  rpcUrl,
  payee,
  fees: zeroFees,
  pollingIntervalMs: 10,
})
const sqlStore = postgresStore({ connectionString: env('DATABASE_URL') })
await sqlStore.ready()

// Armed by the request carrying the marker, fired by the store right after the commit.
let crashAfterCommit = false
const store: SessionStore = {
  ...sqlStore,
  async updateChannel(channelId: Hex, update) {
    let charged = false
    const result = await sqlStore.updateChannel(channelId, (current) => {
      const next = update(current)
      charged = current !== undefined && next.state !== undefined && next.state.spent > current.spent
      return next
    })
    if (crashAfterCommit && charged) kill()
    return result
  },
}

const upstream = openAiUpstream({ baseUrl: env('UPSTREAM_BASE_URL'), timeoutMs: 10_000 })
const backend: ChatBackend = {
  async complete(request, options) {
    const last = request.messages.at(-1)?.content
    const marked = crashAt !== undefined && JSON.stringify(last ?? '').includes('CRASH')
    if (marked && crashAt === 'after-reserve') kill()
    const completion = await upstream.complete(request, options)
    if (marked && crashAt === 'after-commit') crashAfterCommit = true
    return completion
  },
  stream: (request, options) => upstream.stream!(request, options),
}

const { app } = createGateway({
  realm: 'gateway.test',
  secretKey: env('MPP_SECRET_KEY'),
  escrow,
  store,
  recipient: payee.address,
  currency: pathUsdAddress,
  backend,
  catalogue,
  streaming: { windowTokens: Number(process.env.STREAM_WINDOW_TOKENS ?? 64) },
  session: {
    bucketSize: BigInt(process.env.BUCKET_SIZE ?? '100000'),
    reservationTtl: Number(process.env.RESERVATION_TTL_MS ?? 60_000),
    // Limits are not what most of these tests measure; many payers share few instances and one address.
    verificationsPerSecond: Number(process.env.VOUCHER_RATE_LIMIT ?? 1_000),
    opensPerMinute: Number(process.env.OPEN_RATE_LIMIT ?? 1_000),
    // Deposits change only by these tests' own top-ups, so a chain read is fresh for longer.
    chainCacheTtl: 30_000,
  },
  clientAddress: socketAddress,
  logger: (entry) => {
    if (entry.status >= 500) process.stderr.write(`${JSON.stringify(entry)}\n`)
  },
})
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`${JSON.stringify({ port: info.port })}\n`)
})

// The test process holds our stdin: when it goes away, so do we.
const shutdown = () => {
  server.close()
  void sqlStore.close().finally(() => process.exit(0))
}
process.stdin.on('end', shutdown)
process.stdin.on('close', shutdown)
process.stdin.resume()
process.once('SIGTERM', shutdown)
