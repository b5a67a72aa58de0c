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
import { Credential } from '../src/protocol/credential.js'
import { Receipt } from '../src/protocol/receipt.js'
import { memoryStore } from '../src/stores/memory.js'
import { type Anvil, deployEscrow, startAnvil, testAccounts, testClient, zeroFees } from './harness/local-chain.js'
import { fetchFrom } from './support/fetch-from.js'

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
    for (const typo of ['yes', '-1', '17', '1.5']) expect(() => configFromEnv({ ...env, TRUSTED_PROXIES: typo })).toThrow(/TRUSTED_PROXIES/)
  })

  it('limits opens per client address as the Node entry knows it: the socket peer, or with TRUSTED_PROXIES the proxy-written entry', async () => {
    const env = {
      RPC_URL: anvil.rpcUrl,
      CHAIN_ID: '31337',
      ESCROW_ADDRESS: escrowAddress,
      MPP_SECRET_KEY: secretKey,
      PAYEE_ADDRESS: testAccounts[4]!.address,
      OPEN_RATE_LIMIT: '1',
    }
    const direct = await startGateway({ ...configFromEnv(env), store: memoryStore() }, 0)
    const proxied = await startGateway({ ...configFromEnv({ ...env, TRUSTED_PROXIES: '1' }), store: memoryStore() }, 0)
    try {
      const body = JSON.stringify({ model: 'local-echo', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })
      // An open whose transaction does not decode: counted, then refused by the escrow adapter (402) without reaching the chain.
      const open = async (url: string, from: string, headers: Record<string, string> = {}) => {
        const send = fetchFrom(from)
        const unpaid = await send(`${url}/v1/mpp/chat/completions`, { method: 'POST', body, headers })
        const challenge = Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge
        const payload = {
          action: 'open',
          type: 'transaction',
          channelId: `0x${'ab'.repeat(32)}`,
          transaction: '0xdeadbeef',
          cumulativeAmount: '1',
          signature: `0x${'11'.repeat(64)}1b`,
        }
        const paid = await send(`${url}/v1/mpp/chat/completions`, {
          method: 'POST',
          body,
          headers: { ...headers, Authorization: Credential.format({ challenge, payload }) },
        })
        return paid.status
      }
      // Directly: the socket's peer; X-Forwarded-For changes nothing.
      expect(await open(direct.url, '127.0.0.2', { 'X-Forwarded-For': '203.0.113.1' })).toBe(402)
      expect(await open(direct.url, '127.0.0.2', { 'X-Forwarded-For': '203.0.113.2' })).toBe(429)
      expect(await open(direct.url, '127.0.0.3')).toBe(402)
      // Behind one trusted proxy: the entry it appended, whatever the client wrote before it.
      expect(await open(proxied.url, '127.0.0.2', { 'X-Forwarded-For': '203.0.113.1' })).toBe(402)
      expect(await open(proxied.url, '127.0.0.3', { 'X-Forwarded-For': '198.51.100.9, 203.0.113.1' })).toBe(429)
      expect(await open(proxied.url, '127.0.0.2', { 'X-Forwarded-For': '203.0.113.1, 203.0.113.2' })).toBe(402)
    } finally {
      direct.server.close()
      proxied.server.close()
    }
  })
})
