// A complete paid app on a real local chain: anvil (Tempo mode), our escrow, a
// payee key, the memory store, the Tempo session method behind the middleware.
import { Hono } from 'hono'
import { type Address, type Hex, http, type LocalAccount } from 'viem'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { pathUsdAddress } from '../../contracts-abi/tip20.js'
import { type SessionClientOptions, sessionClient } from '../../src/client/session-client.js'
import { type ViemEscrowOptions, viemEscrow } from '../../src/escrow/viem-escrow.js'
import { paymentErrorHandler } from '../../src/middleware/error-handler.js'
import { payment } from '../../src/middleware/payment.js'
import type { PaymentLogEntry } from '../../src/payment/logger.js'
import { fixedPrice } from '../../src/payment/pricing.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { tempoSession } from '../../src/session/engine.js'
import type { TempoSessionOptions } from '../../src/session/options.js'
import type { ChannelLister } from '../../src/session/store.js'
import type { JobLock } from '../../src/session/sweeper.js'
import { memoryStore } from '../../src/stores/memory.js'
import type { SessionStore } from '../../src/stores/store.js'
import { type Anvil, deployEscrow, fundPathUsd, startAnvil, testAccounts, testClient, zeroFees } from '../harness/local-chain.js'

export const price = 100_000n
export const secretKey = 'session-test-secret-key-at-least-32-bytes'

export type SessionFixture = Awaited<ReturnType<typeof startSession>>

/** Starts anvil, deploys the escrow and builds the app; `stop()` when done. */
export async function startSession(
  options: {
    method?: Partial<TempoSessionOptions>
    escrow?: Pick<ViemEscrowOptions, 'gas' | 'timeoutMs'>
    withPayeeKey?: boolean
    /** The store (default: a memory store). */
    store?: SessionStore & ChannelLister & JobLock
  } = {},
) {
  const anvil: Anvil = await startAnvil({ tempo: true })
  const deployer = testClient(anvil, testAccounts[3]!)
  const escrowAddress = await deployEscrow(deployer)
  const payee = testAccounts[4]!
  const payeeAddress = payee.address.toLowerCase() as Address
  const escrow = viemEscrow({
    address: escrowAddress,
    chain: anvil.chain,
    rpcUrl: anvil.rpcUrl,
    ...(options.withPayeeKey === false ? {} : { payee }),
    fees: zeroFees,
    pollingIntervalMs: 10,
    timeoutMs: 5_000,
    ...options.escrow,
  })
  const store = options.store ?? memoryStore()
  const method = tempoSession({
    escrow,
    store,
    recipient: payeeAddress,
    currency: pathUsdAddress,
    minDeposit: 1_000_000n,
    ...options.method,
  })
  const logs: PaymentLogEntry[] = []
  const paid = payment({
    realm: 'gateway.test',
    secretKey,
    method,
    challenges: store,
    pricing: fixedPrice(price),
    logger: (entry) => logs.push(entry),
  })
  const app = new Hono()
  app.onError(paymentErrorHandler)
  app.post('/v1/paid', paid, (c) => c.json({ channelId: c.var.payment.channelId, reserved: c.var.payment.reserved.toString() }))
  app.get('/v1/paid', paid, (c) => c.json({ ok: true }))

  /** A funded payer (a fresh key holding pathUSD) and a session client for it. */
  async function payer(index: number, clientOptions: Partial<SessionClientOptions> = {}) {
    const account = testAccounts[index]! as LocalAccount
    const client = sessionClient({
      account,
      chain: anvil.chain,
      transport: http(anvil.rpcUrl),
      deposit: 1_000_000n,
      fees: zeroFees,
      fetch: async (input, init) => app.fetch(new Request(input as string, init)),
      ...clientOptions,
    })
    return { account, address: account.address.toLowerCase() as Address, client }
  }

  /** A fresh challenge for POST /v1/paid with `body`. */
  async function challenge(body = '{}', path = '/v1/paid', method = 'POST') {
    const response = await app.request(path, { method, ...(method === 'POST' ? { body } : {}) })
    return Challenge.parse(response.headers.get('WWW-Authenticate')!) as Challenge
  }

  /** Sends POST /v1/paid with a hand-made payload (answering a fresh challenge). */
  async function send(payload: Record<string, unknown>, body = '{}', extra: { source?: string } = {}) {
    const answered = await challenge(body)
    return app.request('/v1/paid', {
      method: 'POST',
      body,
      headers: { Authorization: Credential.format({ challenge: answered, payload, ...extra }) },
    })
  }

  return {
    anvil,
    chain: deployer,
    escrowAddress,
    escrow,
    payeeAddress,
    store,
    method,
    app,
    logs,
    payer,
    challenge,
    send,
    fund: (to: Address, amount: bigint) => fundPathUsd(deployer, to, amount),
    stop: () => anvil.stop(),
  }
}

/** The amounts of the escrow's `Settled` events for `channelId`, in order: what was settled on chain, and how often. */
export async function settledAmounts(session: Pick<SessionFixture, 'chain' | 'escrowAddress'>, channelId: Hex): Promise<bigint[]> {
  const events = await session.chain.getContractEvents({
    address: session.escrowAddress,
    abi: escrowAbi,
    eventName: 'Settled',
    args: { channelId },
    fromBlock: 0n,
  })
  return events.map((event) => event.args.cumulativeAmount!)
}
