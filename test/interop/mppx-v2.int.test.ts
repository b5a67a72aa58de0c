// mppx 0.11's default session client (`tempo.session`, TIP-1034,
// sessionProtocol v2), unmodified (test/interop/clients/mppx-session-v2.ts, run
// from the nested package that pins it), paying the gateway on a v2 route over
// real HTTP, against the channel reserve stand-in on anvil
// (test/support/v2/): open → several paid completions → its own close.
import { type Address, parseAbiItem } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { Abis } from 'viem/tempo'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { pathUsdAddress } from '../../contracts-abi/tip20.js'
import { localBackend } from '../../src/chat/local-backend.js'
import { precompileEscrow } from '../../src/escrow/precompile-escrow.js'
import { startGateway } from '../../src/node.js'
import { memoryStore } from '../../src/stores/memory.js'
import { pathUsdBalance, testAccounts, testClient, zeroFees } from '../harness/local-chain.js'
import { runMppxScript } from '../support/mppx-script.js'
import { type StandInChain, startStandInChain } from '../support/v2/stand-in.js'
import { v2Gas } from '../support/v2/transactions.js'

let chain: StandInChain
let gateway: Awaited<ReturnType<typeof startGateway>>
const payee = testAccounts[4]!

beforeAll(async () => {
  chain = await startStandInChain()
  gateway = await startGateway(
    {
      realm: 'gateway.test',
      secretKey: 'interop-test-secret-key-at-least-32-bytes',
      escrow: precompileEscrow({
        chain: chain.chain,
        rpcUrl: chain.rpcUrl,
        payee,
        fees: zeroFees,
        gas: { settle: v2Gas, close: v2Gas },
        pollingIntervalMs: 10,
      }),
      store: memoryStore(),
      recipient: payee.address,
      currency: pathUsdAddress,
      backend: localBackend(),
      session: { sessionProtocol: 'v2', bucketSize: 100_000n },
    },
    0,
  )
}, 60_000)
afterAll(async () => {
  gateway?.server.close()
  await chain?.stop()
})

const runClient = (input: Record<string, unknown>) => runMppxScript<Record<string, unknown>>('mppx-session-v2.ts', input)

// Tempo charges transaction fees as a TIP-20 transfer to the fee manager (docs/local-chain.md).
const feeManager = '0xfeec000000000000000000000000000000000000'
const feesPaidBy = async (payer: Address) =>
  (
    await funder().getLogs({
      address: pathUsdAddress,
      event: parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 amount)'),
      args: { from: payer, to: feeManager },
      fromBlock: 0n,
    })
  ).reduce((sum, log) => sum + log.args.amount!, 0n)
const funder = () => testClient(chain, testAccounts[0]!)

type Receipt = { channelId: string; spent: string; acceptedCumulative: string; txHash?: string }
type Outcome = {
  completions: { status: number; receipt?: Receipt; content?: string }[]
  close?: { receipt?: Receipt } | { error: string }
  failure?: string
}

it('opens a v2 channel, pays each completion, and its own close (for more than was spent) captures exactly spent', async () => {
  const funds = 20_000_000n
  const key = generatePrivateKey()
  const payer = privateKeyToAccount(key).address.toLowerCase() as Address
  const funding = await funder().writeContract({
    address: pathUsdAddress,
    abi: Abis.tip20,
    functionName: 'transfer',
    args: [payer, funds],
    gas: v2Gas,
    ...zeroFees,
  })
  await funder().waitForTransactionReceipt({ hash: funding })
  const payeeBefore = await pathUsdBalance(funder(), payee.address)

  const outcome = (await runClient({
    url: `${gateway.url}/v1/mpp/chat/completions`,
    rpcUrl: chain.rpcUrl,
    chainId: 31337,
    privateKey: key,
    completions: 3,
    maxDeposit: '10',
  })) as Outcome
  expect(outcome.failure).toBeUndefined()
  expect(outcome.completions.map((completion) => completion.status)).toEqual([200, 200, 200])
  const channelId = outcome.completions[0]!.receipt!.channelId
  expect(outcome.completions.every((completion) => completion.receipt?.channelId === channelId && completion.content)).toBe(true)
  const last = outcome.completions.at(-1)!.receipt!
  const spent = BigInt(last.spent)
  // mppx over-authorizes (a voucher per request's quote) and closes for max(spent, acceptedCumulative): on v2
  // the gateway closes with that voucher and captures exactly spent.
  expect(BigInt(last.acceptedCumulative)).toBeGreaterThan(spent)
  expect(outcome.close).toMatchObject({ receipt: { channelId, spent: last.spent, acceptedCumulative: last.acceptedCumulative } })
  expect(outcome.close && 'receipt' in outcome.close ? outcome.close.receipt?.txHash : undefined).toMatch(/^0x[0-9a-f]{64}$/)
  expect((await pathUsdBalance(funder(), payee.address)) - payeeBefore).toBe(spent)
  // The payer paid exactly what was spent, plus its own open transaction's fee.
  expect(funds - (await pathUsdBalance(funder(), payer))).toBe(spent + (await feesPaidBy(payer)))
})
