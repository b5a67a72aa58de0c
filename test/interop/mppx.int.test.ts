// The published mppx 0.11 client, unmodified (test/interop/clients/mppx-session.ts,
// run from the nested package that pins it), paying the gateway over real HTTP
// on anvil: open → several paid completions → cooperative close, with exact
// token balances. Both the session manager and Mppx.create + sessionLegacy in
// auto mode.
import { type Address, type Hex, parseAbi, parseAbiItem } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pathUsdAddress } from '../../contracts-abi/tip20.js'
import { localBackend } from '../../src/chat/local-backend.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import { startGateway } from '../../src/node.js'
import { memoryStore } from '../../src/stores/memory.js'
import {
  type Anvil,
  anvilChainId,
  deployEscrow,
  fundPathUsd,
  startAnvil,
  type TestClient,
  testAccounts,
  testClient,
  zeroFees,
} from '../harness/local-chain.js'
import { runMppxScript } from '../support/mppx-script.js'

let anvil: Anvil
let chain: TestClient
let escrow: Address
let gateway: Awaited<ReturnType<typeof startGateway>>
const payee = testAccounts[4]!
const balanceOf = (owner: Address) =>
  chain.readContract({
    address: pathUsdAddress,
    abi: parseAbi(['function balanceOf(address) view returns (uint256)']),
    functionName: 'balanceOf',
    args: [owner],
  })

beforeAll(async () => {
  anvil = await startAnvil()
  chain = testClient(anvil, testAccounts[3]!)
  escrow = await deployEscrow(chain)
  gateway = await startGateway(
    {
      realm: 'gateway.test',
      secretKey: 'interop-test-secret-key-at-least-32-bytes',
      escrow: viemEscrow({ address: escrow, chain: anvil.chain, rpcUrl: anvil.rpcUrl, payee, fees: zeroFees, pollingIntervalMs: 10 }),
      store: memoryStore(),
      recipient: payee.address,
      currency: pathUsdAddress,
      backend: localBackend(),
      session: { bucketSize: 100_000n },
    },
    0,
  )
}, 60_000)
afterAll(async () => {
  gateway?.server.close()
  await anvil?.stop()
})

type Receipt = { channelId: string; spent: string; acceptedCumulative: string; txHash?: string; units?: number }
type Outcome = {
  channelId: string
  completions: { status: number; receipt?: Receipt; content?: string }[]
  managerClose?: { error: string } | { receipt?: Receipt }
  close?: { status: number; receipt?: Receipt; problem?: unknown }
  paidRequests: number
}

const runClient = (input: Record<string, unknown>) => runMppxScript<Outcome>('mppx-session.ts', input)

// Tempo charges transaction fees as a TIP-20 transfer to the fee manager (docs/local-chain.md).
const feeManager = '0xfeec000000000000000000000000000000000000'
async function feesPaidBy(payer: Address): Promise<bigint> {
  const transfers = await chain.getLogs({
    address: pathUsdAddress,
    event: parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 amount)'),
    args: { from: payer, to: feeManager },
    fromBlock: 0n,
  })
  return transfers.reduce((sum, log) => sum + log.args.amount!, 0n)
}

/** A fresh payer holding pathUSD, so its balance tells exactly what it paid. */
async function freshPayer(amount: bigint): Promise<{ key: Hex; address: Address }> {
  const key = generatePrivateKey()
  const address = privateKeyToAccount(key).address.toLowerCase() as Address
  await fundPathUsd(chain, address, amount)
  return { key, address }
}

describe.each(['manager', 'auto'] as const)('the published mppx client (%s) against the gateway', (mode) => {
  it('pays every completion in one round of 402 + voucher, and its close ends with the payer paying exactly what was spent', async () => {
    const funds = 20_000_000n
    const payer = await freshPayer(funds)
    const payeeBefore = await balanceOf(payee.address)
    const completions = 3
    const outcome = await runClient({
      url: `${gateway.url}/v1/mpp/chat/completions`,
      rpcUrl: anvil.rpcUrl,
      chainId: anvilChainId,
      escrow,
      privateKey: payer.key,
      mode,
      completions,
      maxDeposit: '10',
    })

    // Every completion paid and served, with a receipt on one channel.
    expect(outcome.completions.map((completion) => completion.status)).toEqual([200, 200, 200])
    expect(outcome.completions.every((completion) => completion.receipt?.channelId === outcome.channelId && completion.content)).toBe(true)
    const spent = BigInt(outcome.completions.at(-1)!.receipt!.spent)
    expect(spent).toBeGreaterThan(0n)
    // Two HTTP requests per completion: the unpaid request (402), then the paid retry.
    expect(outcome.paidRequests).toBe(2 * completions)

    if (mode === 'manager') {
      // Its own close signs max(spent, acceptedCumulative): more than was spent, which the v1 escrow would capture
      // in full; the gateway answers with a 402 that names exactly what to sign.
      expect(outcome.managerClose).toMatchObject({
        error: expect.stringMatching(new RegExp(`Close request failed with status 402.*exactly ${spent}`)),
      })
    }
    // The cooperative close for exactly what was spent.
    expect(outcome.close).toMatchObject({
      status: 200,
      receipt: { spent: spent.toString(), txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) },
    })
    // The payer paid what was spent, plus the fee of the open transaction it signed (mppx sets the fees; the
    // fee goes to the fee manager in the same token).
    const fees = await feesPaidBy(payer.address)
    expect(await balanceOf(payer.address)).toBe(funds - spent - fees)
    expect((await balanceOf(payee.address)) - payeeBefore).toBe(spent)
  }, 120_000)
})
