import { type Address, http } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pathUsdAddress } from '../contracts-abi/tip20.js'
import { defaultCatalogue } from '../src/chat/catalogue.js'
import { localBackend } from '../src/chat/local-backend.js'
import { chatPricing } from '../src/chat/pricing.js'
import { sessionClient } from '../src/client/session-client.js'
import { viemEscrow } from '../src/escrow/viem-escrow.js'
import { configFromEnv, startGateway } from '../src/node.js'
import { Challenge, computeChallengeId } from '../src/protocol/challenge.js'
import { Receipt } from '../src/protocol/receipt.js'
import { memoryStore } from '../src/stores/memory.js'
import { type Anvil, deployEscrow, startAnvil, testAccounts, testClient, zeroFees } from './harness/local-chain.js'

const secretKey = 'node-server-test-secret-of-32-bytes+'
let anvil: Anvil
let gateway: Awaited<ReturnType<typeof startGateway>>
let escrowAddress: Address

beforeAll(async () => {
  anvil = await startAnvil()
  escrowAddress = await deployEscrow(testClient(anvil, testAccounts[3]!))
  const payee = testAccounts[4]!
  gateway = await startGateway(
    {
      realm: 'gateway.test',
      secretKey,
      escrow: viemEscrow({
        address: escrowAddress,
        chain: anvil.chain,
        rpcUrl: anvil.rpcUrl,
        payee,
        fees: zeroFees,
        pollingIntervalMs: 10,
      }),
      store: memoryStore(),
      recipient: payee.address,
      currency: pathUsdAddress,
      backend: localBackend(),
      session: { bucketSize: 100_000n },
    },
    0,
  )
})
afterAll(async () => {
  gateway?.server.close()
  await anvil?.stop()
})

describe('the Node gateway over real HTTP', () => {
  it('challenges with a digest of the bytes that crossed the socket', async () => {
    const body = JSON.stringify({ model: 'local-echo', max_tokens: 16, messages: [{ role: 'user', content: 'héllo' }] })
    const response = await fetch(`${gateway.url}/v1/mpp/chat/completions`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/json' },
    })
    expect(response.status).toBe(402)
    const challenge = Challenge.parse(response.headers.get('WWW-Authenticate')!) as Challenge
    expect(challenge.id).toBe(computeChallengeId({ secretKey, ...challenge }))
    const quote = await chatPricing(defaultCatalogue)({
      request: new Request('http://x', { method: 'POST', body }),
      body: new TextEncoder().encode(body),
      route: '',
    })
    expect(Challenge.request(challenge)).toMatchObject({
      amount: quote.total.toString(),
      unitType: 'request',
      recipient: testAccounts[4]!.address.toLowerCase(),
      methodDetails: { model: 'local-echo', inputTokenPrice: '10', outputTokenPrice: '20' },
    })
  })

  it('serves a whole paid session of completions: open, paid requests, close', async () => {
    const client = sessionClient({
      account: testAccounts[5]!,
      chain: anvil.chain,
      transport: http(anvil.rpcUrl),
      deposit: 1_000_000n,
      fees: zeroFees,
    })
    const url = `${gateway.url}/v1/mpp/chat/completions`
    const ask = {
      method: 'POST',
      body: JSON.stringify({ model: 'local-echo', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    }
    let spent = 0n
    for (let i = 0; i < 2; i++) {
      const response = await client.fetch(url, ask)
      expect(response.status).toBe(200)
      const completion = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }
      spent += BigInt(completion.usage.prompt_tokens) * 10n + BigInt(completion.usage.completion_tokens) * 20n
      expect(Receipt.parse(response.headers.get('Payment-Receipt')!).spent).toBe(spent.toString())
    }
    const close = await client.close(url, ask)
    expect(close).toMatchObject({ spent: spent.toString(), txHash: expect.stringMatching(/^0x/) })
  })

  it('reads its configuration from the environment, failing fast on what is missing', () => {
    const env = {
      RPC_URL: anvil.rpcUrl,
      CHAIN_ID: '31337',
      ESCROW_ADDRESS: escrowAddress,
      MPP_SECRET_KEY: `${secretKey},${secretKey}x`,
      PAYEE_ADDRESS: testAccounts[4]!.address,
    }
    const config = configFromEnv(env)
    expect(config.secretKey).toEqual([secretKey, `${secretKey}x`])
    expect(config.escrow.canSubmit).toBe(false)
    expect(() => configFromEnv({ ...env, MPP_SECRET_KEY: undefined })).toThrow(/MPP_SECRET_KEY/)
  })
})
