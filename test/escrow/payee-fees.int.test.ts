// The payee's fees are configuration (viemEscrow `fees` and the chain's fee
// token; PAYEE_FEE_TOKEN, PAYEE_MAX_FEE_PER_GAS and PAYEE_PRIORITY_FEE_PER_GAS
// in the entries), on anvil in Tempo mode. By default a settle or close pays
// what the chain needs and no more: the base fee (zero here) and no tip, so
// an unfunded payee closes and pays nothing — before, viem's estimate added
// anvil's 1 gwei priority fee and a close cost the payee 99 base units. A
// named fee token is the one the chain takes the fee in; a base fee above
// the cap sends nothing.
import { type Address, type Hex, http, parseEventLogs } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pathUsdAddress, tip20Abi } from '../../contracts-abi/tip20.js'
import { createGateway } from '../../src/app.js'
import { localBackend } from '../../src/chat/local-backend.js'
import { sessionClient } from '../../src/client/session-client.js'
import { tempoChain } from '../../src/escrow/chain.js'
import type { PayeeFeeCaps } from '../../src/escrow/fees.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { memoryStore } from '../../src/stores/memory.js'
import {
  type Anvil,
  deployEscrow,
  gasLimits,
  pathUsdBalance,
  startAnvil,
  type TestClient,
  testAccounts,
  testClient,
  zeroFees,
} from '../harness/local-chain.js'
import { chatRequest, completionsUrl } from '../support/gateway.js'

const url = completionsUrl
const ask = (content: string) => chatRequest('local-echo', { maxTokens: 16, content })
const alphaUsd = '0x20c0000000000000000000000000000000000001' as const
const feeManager = '0xfeec000000000000000000000000000000000000'
const gwei = 1_000_000_000n

let anvil: Anvil
let funder: TestClient
let escrowAddress: Address
beforeAll(async () => {
  anvil = await startAnvil({ tempo: true })
  funder = testClient(anvil, testAccounts[3]!)
  escrowAddress = await deployEscrow(funder)
})
afterAll(async () => {
  await anvil?.stop()
})

/** A gateway whose payee is a fresh key (no balance anywhere), its fees as given; a payer that has paid one completion on it. */
async function paidChannel(options: { fees?: PayeeFeeCaps; feeToken?: Address; payer: number }) {
  const payee = privateKeyToAccount(generatePrivateKey())
  const address = payee.address.toLowerCase() as Address
  const chain = options.feeToken ? tempoChain({ id: anvil.chain.id, rpcUrl: anvil.rpcUrl, feeToken: options.feeToken }) : anvil.chain
  const escrow = viemEscrow({
    address: escrowAddress,
    chain,
    rpcUrl: anvil.rpcUrl,
    payee,
    pollingIntervalMs: 10,
    ...(options.fees ? { fees: options.fees } : {}),
  })
  const { app } = createGateway({
    realm: 'gateway.test',
    secretKey: 'payee-fees-test-secret-key-of-32-bytes',
    escrow,
    store: memoryStore(),
    recipient: address,
    currency: pathUsdAddress,
    backend: localBackend(),
    logger: () => {},
  })
  const fetch = async (input: string | URL | Request, init?: RequestInit) => app.fetch(new Request(input as string, init))
  const account = testAccounts[options.payer]!
  const client = sessionClient({ account, chain: anvil.chain, transport: http(anvil.rpcUrl), deposit: 1_000_000n, fees: zeroFees, fetch })
  expect((await client.fetch(url, ask('hello'))).status).toBe(200)
  const { channelId, spent } = [...client.channels.values()][0]!
  /** A close for exactly what was spent, answering a fresh challenge. */
  async function close() {
    const challenge = Challenge.parse((await fetch(url, ask('close'))).headers.get('WWW-Authenticate')!) as Challenge
    const signature = await signVoucher(account, { chainId: anvil.chain.id, escrow: escrowAddress }, { channelId, cumulativeAmount: spent })
    const payload = { action: 'close', channelId, cumulativeAmount: spent.toString(), signature }
    return fetch(url, { ...ask('close'), headers: { Authorization: Credential.format({ challenge, payload }) } })
  }
  const health = async () => (await app.request('/health')).json()
  return { address, escrow, channelId, spent, close, health }
}

/** The fee the payee paid in a close: its token's Transfer to the fee manager (none when the fee was zero). */
async function feePaid(close: Response, payee: Address) {
  const txHash = Receipt.parse(close.headers.get('Payment-Receipt')!).txHash as Hex
  const receipt = await funder.getTransactionReceipt({ hash: txHash })
  expect(receipt.status).toBe('success')
  const transfers = parseEventLogs({ abi: tip20Abi, logs: receipt.logs, eventName: 'Transfer' })
  const fees = transfers.filter((log) => log.args.to.toLowerCase() === feeManager && log.args.from.toLowerCase() === payee)
  return { receipt, fees: fees.map((log) => ({ token: log.address.toLowerCase(), amount: log.args.amount })) }
}

describe("the payee's fees, by default", () => {
  it('are what the chain needs: on a zero base fee an unfunded payee is ready, and its close pays nothing', async () => {
    const channel = await paidChannel({ payer: 7 })
    expect(await channel.health()).toMatchObject({
      status: 'ready',
      payee: { canPayFees: true, feeToken: pathUsdAddress, feeBalance: '0', feeNeeded: '0' },
    })
    const closed = await channel.close()
    expect(closed.status).toBe(200)
    const { fees } = await feePaid(closed, channel.address)
    expect(fees.every((fee) => fee.amount === 0n)).toBe(true)
    // The payee holds exactly what was spent: no fee came out of it.
    expect(await pathUsdBalance(funder, channel.address)).toBe(channel.spent)
    expect((await channel.escrow.getChannel(channel.channelId))?.finalized).toBe(true)
  })
})

describe("the payee's fees, configured", () => {
  it('are paid in the fee token named, with the tip configured, and the readiness counts that token', async () => {
    const channel = await paidChannel({ payer: 8, feeToken: alphaUsd, fees: { maxPriorityFeePerGas: gwei } })
    // 500,000 gas (the settle/close limit) × 1 gwei / 10^12.
    const needed = 500n
    expect(await channel.health()).toMatchObject({
      status: 'degraded',
      payee: { canPayFees: false, feeToken: alphaUsd, feeBalance: '0', feeNeeded: needed.toString() },
    })
    const hash = await funder.writeContract({
      address: alphaUsd,
      abi: tip20Abi,
      functionName: 'transfer',
      args: [channel.address, needed],
      gas: gasLimits.call,
      ...zeroFees,
    })
    expect((await funder.waitForTransactionReceipt({ hash })).status).toBe('success')

    const closed = await channel.close()
    expect(closed.status).toBe(200)
    const { receipt, fees } = await feePaid(closed, channel.address)
    const fee = (receipt.gasUsed * gwei + 10n ** 12n - 1n) / 10n ** 12n
    expect(fee).toBeGreaterThan(0n)
    expect(fees).toEqual([{ token: alphaUsd, amount: fee }])
    expect(await pathUsdBalance(funder, channel.address)).toBe(channel.spent)
    const alpha = await funder.readContract({ address: alphaUsd, abi: tip20Abi, functionName: 'balanceOf', args: [channel.address] })
    expect(alpha).toBe(needed - fee)
  })

  // Last in the file: the base fee it raises decays over many blocks.
  it('are never above the cap: while the base fee is, the close sends nothing, answers a retryable 502 and the channel stays open', async () => {
    const channel = await paidChannel({ payer: 9, fees: { maxFeePerGas: 10n * gwei } })
    await funder.request({ method: 'anvil_setNextBlockBaseFeePerGas', params: [`0x${(20n * gwei).toString(16)}`] } as never)
    await funder.request({ method: 'evm_mine', params: [] } as never)

    const refused = await channel.close()
    expect(refused.status).toBe(502)
    const problem = (await refused.json()) as Record<string, unknown>
    expect(problem).toMatchObject({ code: 'mpp_session_close_failed', retryable: true, channelId: channel.channelId })
    expect(problem.detail).toContain(`above the payee's fee cap (${10n * gwei} per gas)`)
    expect(await funder.getTransactionCount({ address: channel.address })).toBe(0)
    expect((await channel.escrow.getChannel(channel.channelId))?.finalized).toBe(false)
  })
})
