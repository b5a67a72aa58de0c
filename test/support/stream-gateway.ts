// The gateway serving streamed completions over a real HTTP server (the Node
// entry's `nodeServer`) on a real local chain (anvil, Tempo mode, our escrow),
// with the offline local backend or the fake OpenAI-compatible upstream process.
import type { AddressInfo } from 'node:net'
import { type Address, http, type LocalAccount } from 'viem'
import { pathUsdAddress } from '../../contracts-abi/tip20.js'
import { createGateway } from '../../src/app.js'
import type { ChatBackend } from '../../src/chat/backend.js'
import type { ModelPrice } from '../../src/chat/catalogue.js'
import { localBackend } from '../../src/chat/local-backend.js'
import { openAiUpstream } from '../../src/chat/openai-upstream.js'
import type { StreamingOptions } from '../../src/chat/streaming.js'
import { type SessionClientOptions, sessionClient } from '../../src/client/session-client.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import { nodeServer } from '../../src/node/server.js'
import type { PaymentLogEntry } from '../../src/payment/logger.js'
import type { TempoSessionOptions } from '../../src/session/options.js'
import { memoryStore } from '../../src/stores/memory.js'
import { deployEscrow, startAnvil, testAccounts, testClient, zeroFees } from '../harness/local-chain.js'
import { type FakeUpstream, startFakeUpstream } from './fake-upstream.js'

export const localModel: ModelPrice = {
  id: 'local-echo',
  inputTokenPrice: 10n,
  outputTokenPrice: 20n,
  maxOutputTokens: 256,
  encoding: 'o200k_base',
}
const upstreamModel = (id: string): ModelPrice => ({ id, inputTokenPrice: 10n, outputTokenPrice: 20n, maxOutputTokens: 100 })
/** Models whose names steer the fake upstream (fake-upstream-server.mjs). */
export const upstreamModels = ['ok', 'usage:30,9', 'stream-slow:100', 'stream-cut:4', 'fail:500'] as const

export type StreamGatewayOptions = {
  backend: 'local' | 'upstream'
  streaming?: StreamingOptions | false
  session?: Partial<TempoSessionOptions>
}

export async function startStreamGateway(options: StreamGatewayOptions) {
  const anvil = await startAnvil({ tempo: true })
  let upstream: FakeUpstream | undefined
  try {
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
    const store = memoryStore()
    let backend: ChatBackend
    let catalogue: ModelPrice[]
    if (options.backend === 'local') {
      catalogue = [localModel]
      backend = localBackend({ catalogue })
    } else {
      upstream = await startFakeUpstream()
      catalogue = upstreamModels.map(upstreamModel)
      backend = openAiUpstream({ baseUrl: upstream.baseUrl, timeoutMs: 2_000 })
    }
    const logs: PaymentLogEntry[] = []
    // Two instances on one store and one chain, as two processes behind a load balancer would be.
    const instance = async () => {
      const { app } = createGateway({
        realm: 'gateway.test',
        secretKey: 'stream-test-secret-key-at-least-32-bytes',
        escrow,
        store,
        recipient: payee.address.toLowerCase() as Address,
        currency: pathUsdAddress,
        backend,
        catalogue,
        ...(options.streaming === undefined ? {} : { streaming: options.streaming }),
        session: { bucketSize: 10_000n, reservationTtl: 10_000, ...options.session },
        logger: (entry) => logs.push(entry),
      })
      const server = nodeServer(app.fetch, { log: () => {} })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
    }
    const instances = [await instance(), await instance()]
    const origin = instances[0]!.origin

    function payer(index: number, deposit = 10_000_000n, clientOptions: Partial<SessionClientOptions> = {}) {
      const account = testAccounts[index]! as LocalAccount
      const client = sessionClient({
        account,
        chain: anvil.chain,
        transport: http(anvil.rpcUrl),
        deposit,
        fees: zeroFees,
        ...clientOptions,
      })
      return { account, client, channel: () => [...client.channels.values()][0]! }
    }

    return {
      origin,
      url: `${origin}/v1/mpp/chat/completions`,
      /** The completions URL on the second instance (same store, same chain). */
      secondUrl: `${instances[1]!.origin}/v1/mpp/chat/completions`,
      store,
      logs,
      upstream,
      catalogue,
      payer,
      stop: async () => {
        for (const { server } of instances) {
          server.closeAllConnections()
          await new Promise((resolve) => server.close(resolve))
        }
        await Promise.all([anvil.stop(), upstream?.stop()])
      },
    }
  } catch (error) {
    await Promise.all([anvil.stop(), upstream?.stop()])
    throw error
  }
}

/** A chat request body. */
export const chatBody = (model: string, options: { maxTokens?: number; content?: string; stream?: boolean; includeUsage?: boolean } = {}) =>
  JSON.stringify({
    model,
    max_tokens: options.maxTokens ?? 100,
    messages: [{ role: 'user', content: options.content ?? 'Tell me about vouchers.' }],
    ...(options.stream === false ? {} : { stream: true }),
    ...(options.includeUsage ? { stream_options: { include_usage: true } } : {}),
  })

/** Every Server-Sent Event of a body, in order. */
export async function eventsOf(response: Response): Promise<{ event?: string; data: string }[]> {
  const { readEvents } = await import('../../src/protocol/sse.js')
  const events: { event?: string; data: string }[] = []
  for await (const event of readEvents(response.body!)) events.push(event)
  return events
}
