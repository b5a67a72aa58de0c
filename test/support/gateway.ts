// The product on a real local chain: anvil (Tempo mode), our escrow, the paid
// chat-completions gateway in front of a fake OpenAI-compatible upstream process.
import { type Address, http, type LocalAccount } from 'viem'
import { pathUsdAddress } from '../../contracts-abi/tip20.js'
import { createGateway } from '../../src/app.js'
import type { ChatBackend } from '../../src/chat/backend.js'
import type { ModelPrice } from '../../src/chat/catalogue.js'
import { openAiUpstream } from '../../src/chat/openai-upstream.js'
import { type SessionClientOptions, sessionClient } from '../../src/client/session-client.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import type { PaymentLogEntry } from '../../src/payment/logger.js'
import type { TempoSessionOptions } from '../../src/session/options.js'
import { memoryStore } from '../../src/stores/memory.js'
import type { SessionStore } from '../../src/stores/store.js'
import { deployEscrow, startAnvil, testAccounts, testClient, zeroFees } from '../harness/local-chain.js'
import { startFakeUpstream } from './fake-upstream.js'

export const bucketSize = 100_000n
const model = (id: string, maxOutputTokens = 100): ModelPrice => ({ id, inputTokenPrice: 10n, outputTokenPrice: 20n, maxOutputTokens })

/** Models whose names steer the fake upstream (see fake-upstream-server.mjs). */
export const catalogue: ModelPrice[] = [
  model('usage:40,60'),
  model('usage:100,4500', 5_000),
  model('usage:10,10', 100_000),
  model('fail:500'),
  model('fail:429'),
  model('once:fail:429:1'),
  model('fail:429:1'),
  model('stall:5000'),
  model('stall:600'),
  model('stall:800', 5_000),
  model('stream-slow:300'),
]

/** A store whose next `updateChannel` fails when armed: a commit failure on demand. */
function faultyStore(store: SessionStore) {
  let failNext = false
  const faulty: SessionStore = {
    ...store,
    updateChannel(channelId, update) {
      if (failNext) {
        failNext = false
        return Promise.reject(new Error('store unavailable'))
      }
      return store.updateChannel(channelId, update)
    },
  }
  return { store: faulty, failNextUpdate: () => (failNext = true) }
}

export async function startGatewayFixture(session: Partial<TempoSessionOptions> = {}) {
  const anvil = await startAnvil({ tempo: true })
  const upstream = await startFakeUpstream()
  const escrowAddress = await deployEscrow(testClient(anvil, testAccounts[3]!))
  const payee = testAccounts[4]!
  const escrow = viemEscrow({
    address: escrowAddress,
    chain: anvil.chain,
    rpcUrl: anvil.rpcUrl,
    payee,
    fees: zeroFees,
    pollingIntervalMs: 10,
  })
  const memory = memoryStore()
  const faults = faultyStore(memory)
  const openAi = openAiUpstream({ baseUrl: upstream.baseUrl, timeoutMs: 1_000 })
  let failCommitOnce = false
  // Arms the store fault between the reservation and the commit: after inference.
  const backend: ChatBackend = {
    async complete(request, options) {
      const completion = await openAi.complete(request, options)
      if (failCommitOnce) {
        failCommitOnce = false
        faults.failNextUpdate()
      }
      return completion
    },
  }
  const logs: PaymentLogEntry[] = []
  const { app, session: method } = createGateway({
    realm: 'gateway.test',
    secretKey: 'gateway-test-secret-key-at-least-32-bytes',
    escrow,
    store: faults.store,
    recipient: payee.address,
    currency: pathUsdAddress,
    backend,
    catalogue,
    session: { bucketSize, reservationTtl: 5_000, ...session },
    logger: (entry) => logs.push(entry),
  })
  const fetch = async (input: string | URL | Request, init?: RequestInit) => app.fetch(new Request(input as string, init))

  function payer(index: number, deposit = 1_000_000n, options: Partial<SessionClientOptions> = {}) {
    const account = testAccounts[index]! as LocalAccount
    const client = sessionClient({ account, chain: anvil.chain, transport: http(anvil.rpcUrl), deposit, fees: zeroFees, fetch, ...options })
    return { account, address: account.address.toLowerCase() as Address, client, channel: () => [...client.channels.values()][0]! }
  }

  return {
    anvil,
    upstream,
    escrow,
    escrowAddress,
    store: memory,
    method,
    app,
    logs,
    fetch,
    payer,
    failNextCommit: () => (failCommitOnce = true),
    stop: async () => {
      await Promise.all([anvil.stop(), upstream.stop()])
    },
  }
}

export const completionsUrl = 'http://gateway.test/v1/mpp/chat/completions'

export function chatRequest(
  model: string,
  options: { maxTokens?: number; content?: string; headers?: Record<string, string>; signal?: AbortSignal } = {},
) {
  return {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...options.headers },
    body: JSON.stringify({
      model,
      max_tokens: options.maxTokens ?? 100,
      messages: [{ role: 'user', content: options.content ?? 'What is a voucher?' }],
    }),
    ...(options.signal ? { signal: options.signal } : {}),
  }
}
