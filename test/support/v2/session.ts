// A complete paid app on session protocol v2: anvil with the channel reserve
// stand-in behind its RPC proxy (stand-in.ts), the v2 escrow adapter with a
// payee key, a store (default: memory), the Tempo session method (sessionProtocol v2)
// behind the middleware. Payers are fresh keys funded with pathUSD.
import { Hono } from 'hono'
import { type Address, createTestClient, http, type LocalAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { pathUsdAddress } from '../../../contracts-abi/tip20.js'
import { paymentErrorHandler } from '../../../src/middleware/error-handler.js'
import { payment } from '../../../src/middleware/payment.js'
import type { PaymentLogEntry } from '../../../src/payment/logger.js'
import { fixedPrice } from '../../../src/payment/pricing.js'
import { Challenge } from '../../../src/protocol/challenge.js'
import { Credential } from '../../../src/protocol/credential.js'
import { tempoSession } from '../../../src/session/engine.js'
import type { TempoSessionOptions } from '../../../src/session/options.js'
import { memoryStore } from '../../../src/stores/memory.js'
import type { SessionStore } from '../../../src/stores/store.js'
import { pathUsdBalance, testAccounts, testClient } from '../../harness/local-chain.js'
import { fundOnStandIn, standInPayee } from './payee.js'
import { startStandInChain } from './stand-in.js'

export const price = 100_000n
export const secretKey = 'session-test-secret-key-at-least-32-bytes'

export type V2SessionFixture = Awaited<ReturnType<typeof startV2Session>>

/** Starts the stand-in chain and builds the app; `stop()` when done. */
export async function startV2Session(options: { method?: Partial<TempoSessionOptions>; store?: SessionStore } = {}) {
  const chain = await startStandInChain()
  const funder = testClient(chain, testAccounts[0]!)
  const { address: payeeAddress, escrow } = standInPayee(chain, { timeoutMs: 5_000 })
  const store = options.store ?? memoryStore()
  const method = tempoSession({
    sessionProtocol: 'v2',
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
  app.post('/v1/paid', paid, (c) => c.json({ channelId: c.var.payment.channelId }))

  /** A fresh payer key holding `amount` pathUSD, and a client of the chain for it. */
  async function payer(amount = 10_000_000n) {
    const account = privateKeyToAccount(generatePrivateKey()) as LocalAccount
    await fundOnStandIn(funder, account.address, amount)
    return { account, address: account.address.toLowerCase() as Address, client: testClient(chain, account) }
  }

  /** A fresh challenge for POST /v1/paid with `body` (`''`: none, a management request). */
  async function challenge(body = '{}') {
    const response = await app.request('/v1/paid', { method: 'POST', ...(body === '' ? {} : { body }) })
    return Challenge.parse(response.headers.get('WWW-Authenticate')!) as Challenge
  }

  /** Sends POST /v1/paid with a hand-made payload, answering a fresh challenge; `body: ''` makes it a management request. */
  async function send(payload: Record<string, unknown>, body = '{}') {
    const answered = await challenge(body)
    return app.request('/v1/paid', {
      method: 'POST',
      ...(body === '' ? {} : { body }),
      headers: { Authorization: Credential.format({ challenge: answered, payload }) },
    })
  }

  return {
    chain,
    funder,
    anvil: createTestClient({ mode: 'anvil', transport: http(chain.anvil.rpcUrl) }),
    escrow,
    payeeAddress,
    store,
    method,
    app,
    logs,
    payer,
    challenge,
    send,
    balance: (address: Address) => pathUsdBalance(funder, address),
    stop: () => chain.stop(),
  }
}
