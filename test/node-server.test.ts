import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http, type Address } from 'viem'
import { pathUsdAddress } from '../contracts-abi/tip20.js'
import { Challenge, computeChallengeId, memoryStore, Receipt, sessionClient, viemEscrow } from '../src/index.js'
import { configFromEnv, startGateway } from '../src/node.js'
import { type Anvil, deployEscrow, startAnvil, testAccounts, testClient, zeroFees } from '../scripts/local-chain.js'

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
      escrow: viemEscrow({ address: escrowAddress, chain: anvil.chain, rpcUrl: anvil.rpcUrl, payee, fees: zeroFees, pollingIntervalMs: 10 }),
      store: memoryStore(),
      recipient: payee.address,
      currency: pathUsdAddress,
      demoPrice: 10_000n,
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
    const body = '{"hello":"wörld"}'
    const response = await fetch(`${gateway.url}/v1/demo`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } })
    expect(response.status).toBe(402)
    const challenge = Challenge.parse(response.headers.get('WWW-Authenticate')!) as Challenge
    expect(challenge.id).toBe(computeChallengeId({ secretKey, ...challenge }))
    expect(Challenge.request(challenge)).toMatchObject({ amount: '10000', unitType: 'request', recipient: testAccounts[4]!.address.toLowerCase() })
  })

  it('serves a whole paid session: open, paid requests, close', async () => {
    const client = sessionClient({ account: testAccounts[5]!, chain: anvil.chain, transport: http(anvil.rpcUrl), deposit: 1_000_000n, fees: zeroFees })
    for (const spent of ['10000', '20000']) {
      const response = await client.fetch(`${gateway.url}/v1/demo`, { method: 'POST', body: '{}' })
      expect(response.status).toBe(200)
      expect(Receipt.parse(response.headers.get('Payment-Receipt')!).spent).toBe(spent)
    }
    const close = await client.close(`${gateway.url}/v1/demo`, { method: 'POST', body: '{}' })
    expect(close).toMatchObject({ spent: '20000', txHash: expect.stringMatching(/^0x/) })
  })

  it('reads its configuration from the environment, failing fast on what is missing', () => {
    const env = { RPC_URL: anvil.rpcUrl, CHAIN_ID: '31337', ESCROW_ADDRESS: escrowAddress, MPP_SECRET_KEY: `${secretKey},${secretKey}x`, PAYEE_ADDRESS: testAccounts[4]!.address }
    const config = configFromEnv(env)
    expect(config.secretKey).toEqual([secretKey, `${secretKey}x`])
    expect(config.escrow.canSubmit).toBe(false)
    expect(() => configFromEnv({ ...env, MPP_SECRET_KEY: undefined })).toThrow(/MPP_SECRET_KEY/)
  })
})
