// The product on session protocol v2: anvil with the channel reserve stand-in
// behind its RPC proxy, the v2 escrow adapter with a payee key, the paid
// chat-completions gateway (sessionProtocol v2) in front of the fake
// OpenAI-compatible upstream process, and the project's session client.
import { type Address, http, type LocalAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { pathUsdAddress } from '../../../contracts-abi/tip20.js'
import { createGateway } from '../../../src/app.js'
import { openAiUpstream } from '../../../src/chat/openai-upstream.js'
import { type SessionClientOptions, sessionClient } from '../../../src/client/session-client.js'
import type { TempoSessionOptions } from '../../../src/session/options.js'
import { memoryStore } from '../../../src/stores/memory.js'
import { pathUsdBalance, testAccounts, testClient, zeroFees } from '../../harness/local-chain.js'
import { startFakeUpstream } from '../fake-upstream.js'
import { catalogue } from '../gateway.js'
import { fundOnStandIn, standInPayee } from './payee.js'
import { startStandInChain } from './stand-in.js'
import { v2Gas } from './transactions.js'

export async function startV2GatewayFixture(session: Partial<TempoSessionOptions> = {}) {
  const chain = await startStandInChain()
  const upstream = await startFakeUpstream()
  const funder = testClient(chain, testAccounts[0]!)
  const { address: payeeAddress, escrow } = standInPayee(chain)
  const store = memoryStore()
  const { app, session: method } = createGateway({
    realm: 'gateway.test',
    secretKey: 'gateway-test-secret-key-at-least-32-bytes',
    escrow,
    store,
    recipient: payeeAddress,
    currency: pathUsdAddress,
    backend: openAiUpstream({ baseUrl: upstream.baseUrl, timeoutMs: 1_000 }),
    catalogue,
    session: { sessionProtocol: 'v2', reservationTtl: 5_000, ...session },
  })
  const fetch = async (input: string | URL | Request, init?: RequestInit) => app.fetch(new Request(input as string, init))

  /** A fresh payer holding `funds` pathUSD, with the project's session client (0x76 expiring-nonce opens). */
  async function payer(deposit = 1_000_000n, funds = 10_000_000n, options: Partial<SessionClientOptions> = {}) {
    const account = privateKeyToAccount(generatePrivateKey()) as LocalAccount
    await fundOnStandIn(funder, account.address, funds)
    const client = sessionClient({
      account,
      chain: chain.chain,
      transport: http(chain.rpcUrl),
      deposit,
      fees: zeroFees,
      gas: v2Gas,
      fetch,
      ...options,
    })
    return {
      account,
      address: account.address.toLowerCase() as Address,
      wallet: testClient(chain, account),
      client,
      channel: () => [...client.channels.values()][0]!,
    }
  }

  return {
    chain,
    escrow,
    payeeAddress,
    store,
    method,
    app,
    fetch,
    payer,
    balance: (address: Address) => pathUsdBalance(funder, address),
    stop: async () => {
      await Promise.all([chain.stop(), upstream.stop()])
    },
  }
}
