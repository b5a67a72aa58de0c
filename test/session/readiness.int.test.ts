// The payee's readiness on real anvils (Tempo mode, then a standard chain):
// a payee key with no fee-token balance. /health says so (cached: probing it
// costs the RPC nothing within the window), a close answers 503
// mpp_session_close_unavailable with the cause and leaves the channel serving,
// and after the payee is funded /health flips and the close goes through with
// exact balances. A node that refuses the close for its fee anyway (the
// balance spent between the check and the send), a settle, and a standard
// chain's native fee balance. (The Node entry with such a payee, its start
// line, /health and a refused close over HTTP: test/hostile/readiness.int.test.ts.)
//
// Fees are real here: the payer sends with zero fees (anvil runs with
// --base-fee 0), the payee with a configured tip of 1 gwei per gas (by
// default it pays none: test/escrow/payee-fees.int.test.ts). A settle or close is sent with a 500,000 gas limit, so it needs
// 500,000 × 10^9 / 10^12 = 500 base units of pathUSD; the node accepts a
// balance of exactly that (below, the close after funding) and refuses one
// less (docs/local-chain.md).
import {
  type Address,
  createPublicClient,
  custom,
  encodeAbiParameters,
  type Hex,
  http,
  keccak256,
  type LocalAccount,
  pad,
  parseEventLogs,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pathUsdAddress, tip20Abi } from '../../contracts-abi/tip20.js'
import { createGateway } from '../../src/app.js'
import { localBackend } from '../../src/chat/local-backend.js'
import { sessionClient } from '../../src/client/session-client.js'
import { PaymentError } from '../../src/errors/payment-error.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import type { HealthBody } from '../../src/health.js'
import type { PaymentLogEntry } from '../../src/payment/logger.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { FeeShortfallError } from '../../src/session/escrow.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { memoryStore } from '../../src/stores/memory.js'
import {
  type Anvil,
  deployEscrow,
  fundPathUsd,
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
/** What a settle or close needs at anvil's fees: 500,000 gas × 1 gwei / 10^12 (see the header). */
const needed = 500n
/** The payee's configured tip per gas. */
const tip = 1_000_000_000n
const readinessTtl = 60_000
const feeManager = '0xfeec000000000000000000000000000000000000'
/** pathUSD keeps balances in its mapping at slot 9 (docs/local-chain.md). */
const balanceSlot = (owner: Address) => keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [owner, 9n]))

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

/** The gateway with a fresh payee key (no pathUSD), its engine clock skewable, its RPC counted and interceptable. */
function gatewayWithFreshPayee() {
  const payeeKey = generatePrivateKey()
  const payee = privateKeyToAccount(payeeKey)
  const address = payee.address.toLowerCase() as Address
  const upstream = createPublicClient({ transport: http(anvil.rpcUrl) })
  const rpc = { calls: 0, sends: 0, beforeSend: undefined as (() => Promise<void>) | undefined }
  const escrow = viemEscrow({
    address: escrowAddress,
    chain: anvil.chain,
    transport: custom({
      async request({ method, params }) {
        rpc.calls++
        if (method === 'eth_sendRawTransaction') {
          rpc.sends++
          await rpc.beforeSend?.()
        }
        return upstream.request({ method, params } as never)
      },
    }),
    payee,
    fees: { maxPriorityFeePerGas: tip },
    pollingIntervalMs: 10,
    timeoutMs: 5_000,
  })
  let skew = 0
  const logs: PaymentLogEntry[] = []
  const { app, session } = createGateway({
    realm: 'gateway.test',
    secretKey: 'readiness-test-secret-key-at-least-32-bytes',
    escrow,
    store: memoryStore(),
    recipient: address,
    currency: pathUsdAddress,
    backend: localBackend(),
    session: { readinessTtl, now: () => Date.now() + skew },
    logger: (entry) => logs.push(entry),
  })
  const fetch = async (input: string | URL | Request, init?: RequestInit) => app.fetch(new Request(input as string, init))
  const health = async () => {
    const response = await app.request('/health')
    return { status: response.status, cacheControl: response.headers.get('Cache-Control'), body: (await response.json()) as HealthBody }
  }
  function payer(index: number) {
    const account = testAccounts[index]! as LocalAccount
    const client = sessionClient({ account, chain: anvil.chain, transport: http(anvil.rpcUrl), deposit: 1_000_000n, fees: zeroFees, fetch })
    return { account, address: account.address.toLowerCase() as Address, client, channel: () => [...client.channels.values()][0]! }
  }
  /** Sends a close for exactly what was spent, answering a fresh challenge; returns the raw response. */
  async function close(p: ReturnType<typeof payer>) {
    const unpaid = await fetch(url, ask('close'))
    const challenge = Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge
    const { channelId, spent } = p.channel()
    const signature = await signVoucher(
      p.account,
      { chainId: anvil.chain.id, escrow: escrowAddress },
      { channelId, cumulativeAmount: spent },
    )
    const payload = { action: 'close', channelId, cumulativeAmount: spent.toString(), signature }
    return fetch(url, { ...ask('close'), headers: { Authorization: Credential.format({ challenge, payload }) } })
  }
  return {
    payeeKey,
    address,
    escrow,
    session,
    rpc,
    logs,
    health,
    payer,
    close,
    /** Moves the engine's clock past the readiness window. */
    passReadinessWindow: () => (skew += readinessTtl),
  }
}

describe('a payee that cannot pay fees, on anvil in Tempo mode', () => {
  let gateway: ReturnType<typeof gatewayWithFreshPayee>
  let payer: ReturnType<ReturnType<typeof gatewayWithFreshPayee>['payer']>
  let payerBefore: bigint
  beforeAll(() => {
    gateway = gatewayWithFreshPayee()
    payer = gateway.payer(5)
  })

  it('/health answers 200 degraded: the payee can sign but not pay the fee; a repeat within the window reads nothing', async () => {
    const first = await gateway.health()
    expect(first).toEqual({
      status: 200,
      cacheControl: 'no-store',
      body: {
        ok: true,
        status: 'degraded',
        reason: 'payee_cannot_pay_fees',
        payee: {
          address: gateway.address,
          canSign: true,
          canPayFees: false,
          feeToken: pathUsdAddress,
          feeBalance: '0',
          feeNeeded: needed.toString(),
          checkedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        },
      },
    })
    const calls = gateway.rpc.calls
    const again = await Promise.all(Array.from({ length: 20 }, () => gateway.health()))
    expect(gateway.rpc.calls).toBe(calls)
    expect(new Set(again.map((answer) => JSON.stringify(answer.body)))).toEqual(new Set([JSON.stringify(first.body)]))
  })

  it('a close answers 503 mpp_session_close_unavailable with the cause, sends nothing, and the channel keeps serving vouchers', async () => {
    payerBefore = await pathUsdBalance(funder, payer.address)
    expect((await payer.client.fetch(url, ask('first'))).status).toBe(200)
    const { channelId } = payer.channel()
    const sends = gateway.rpc.sends

    const refused = await gateway.close(payer)
    expect(refused.status).toBe(503)
    expect(refused.headers.get('Retry-After')).toBe('60')
    const problem = (await refused.json()) as Record<string, unknown>
    expect(problem).toMatchObject({ code: 'mpp_session_close_unavailable', retryable: false, channelId })
    expect(problem.detail).toBe(
      `The close cannot be sent: the payee ${gateway.address} cannot pay the close's fee: it holds 0 of token ${pathUsdAddress} ` +
        `and needs about ${needed}. The channel stays open and usable; close it again once the payee is funded.`,
    )
    const logged = gateway.logs.find((entry) => entry.code === 'mpp_session_close_unavailable')
    expect(logged).toMatchObject({ status: 503, events: ['payee_cannot_pay_fees'] })
    expect(JSON.stringify(gateway.logs)).not.toContain(gateway.payeeKey.slice(2))

    // Nothing was sent (the balance was checked first); the channel is open, and a new voucher pays.
    expect(gateway.rpc.sends).toBe(sends)
    expect(await funder.getTransactionCount({ address: gateway.address })).toBe(0)
    expect((await gateway.escrow.getChannel(channelId))?.finalized).toBe(false)
    const accepted = payer.channel().signedCumulative
    const served = await payer.client.fetch(url, ask('second'))
    expect(served.status).toBe(200)
    expect(BigInt(Receipt.parse(served.headers.get('Payment-Receipt')!).acceptedCumulative!)).toBeGreaterThan(accepted)
  })

  it('once the payee is funded, /health flips after the window and the close succeeds with exact balances', async () => {
    // Exactly what a close needs: the node's own check accepts it.
    await fundPathUsd(funder, gateway.address, needed)
    expect((await gateway.health()).body).toMatchObject({ status: 'degraded', payee: { canPayFees: false, feeBalance: '0' } })
    gateway.passReadinessWindow()
    expect(await gateway.health()).toMatchObject({
      status: 200,
      body: { ok: true, status: 'ready', payee: { canSign: true, canPayFees: true, feeBalance: needed.toString() } },
    })
    expect((await gateway.health()).body).not.toHaveProperty('reason')

    const { channelId, spent } = payer.channel()
    const closed = await gateway.close(payer)
    expect(closed.status).toBe(200)
    const txHash = Receipt.parse(closed.headers.get('Payment-Receipt')!).txHash as Hex
    const receipt = await funder.getTransactionReceipt({ hash: txHash })
    expect(receipt.status).toBe('success')
    // The fee the chain took: its Transfer from the payee to the fee manager, as Tempo rounds it.
    const transfers = parseEventLogs({ abi: tip20Abi, logs: receipt.logs, eventName: 'Transfer' })
    const fee = transfers.find((log) => log.args.to.toLowerCase() === feeManager && log.args.from.toLowerCase() === gateway.address)
    expect(fee?.args.amount).toBe((receipt.gasUsed * receipt.effectiveGasPrice + 10n ** 12n - 1n) / 10n ** 12n)
    expect(fee!.args.amount).toBeGreaterThan(0n)
    expect(await pathUsdBalance(funder, gateway.address)).toBe(needed + spent - fee!.args.amount)
    expect(payerBefore - (await pathUsdBalance(funder, payer.address))).toBe(spent)
    expect((await gateway.escrow.getChannel(channelId))?.finalized).toBe(true)
  })

  it('a close the node refuses for its fee after the check passed (the balance spent meanwhile) is mpp_session_close_unavailable too', async () => {
    const second = gateway.payer(6)
    expect((await second.client.fetch(url, ask('third'))).status).toBe(200)
    expect(await pathUsdBalance(funder, gateway.address)).toBeGreaterThanOrEqual(needed)
    // Between the adapter's balance check and its eth_sendRawTransaction, the payee's pathUSD goes to zero.
    gateway.rpc.beforeSend = async () => {
      gateway.rpc.beforeSend = undefined
      await funder.request({
        method: 'anvil_setStorageAt',
        params: [pathUsdAddress, balanceSlot(gateway.address), pad('0x0')],
      } as never)
    }
    const refused = await gateway.close(second)
    expect(gateway.rpc.beforeSend).toBeUndefined()
    expect(await pathUsdBalance(funder, gateway.address)).toBe(0n)
    expect(refused.status).toBe(503)
    expect(await refused.json()).toMatchObject({
      code: 'mpp_session_close_unavailable',
      detail: expect.stringContaining(`it holds 0 of token ${pathUsdAddress} and needs about ${needed}`),
    })
    expect((await gateway.escrow.getChannel(second.channel().channelId))?.finalized).toBe(false)
    // The refusal is the freshest reading: /health shows it at once.
    expect((await gateway.health()).body).toMatchObject({ status: 'degraded', payee: { canPayFees: false, feeBalance: '0' } })

    // A settle fails the same way, typed (what the background error hook receives): the operator can tell it from a revert.
    const { channelId } = second.channel()
    const signature = await signVoucher(
      second.account,
      { chainId: anvil.chain.id, escrow: escrowAddress },
      { channelId, cumulativeAmount: 1n },
    )
    const error = await gateway.escrow.settle(channelId, 1n, signature).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(PaymentError)
    expect(error).toMatchObject({ code: 'mpp_session_close_unavailable' })
    expect((error as PaymentError).cause).toBeInstanceOf(FeeShortfallError)
    expect(((error as PaymentError).cause as FeeShortfallError).fees).toEqual({
      address: gateway.address,
      token: pathUsdAddress,
      balance: 0n,
      needed,
    })
  })
})

describe('a payee on a standard EVM chain', () => {
  let plain: Anvil
  beforeAll(async () => {
    plain = await startAnvil({ tempo: false })
  })
  afterAll(async () => {
    await plain?.stop()
  })

  it('pays fees in the native coin: its balance against 500,000 gas at the max fee per gas (zero base fee, the tip)', async () => {
    const payee = privateKeyToAccount(generatePrivateKey())
    // Reading the payee's fees touches no escrow.
    const escrow = viemEscrow({
      address: '0x000000000000000000000000000000000000dead',
      chain: plain.chain,
      rpcUrl: plain.rpcUrl,
      payee,
      fees: { maxPriorityFeePerGas: tip },
    })
    const client = createPublicClient({ chain: plain.chain, transport: http(plain.rpcUrl) })
    const maxFeePerGas = tip
    const address = payee.address.toLowerCase() as Address
    expect(await escrow.payeeFees()).toEqual({ address, token: 'native', balance: 0n, needed: 500_000n * maxFeePerGas })
    await client.request({ method: 'anvil_setBalance', params: [address, `0x${(500_000n * maxFeePerGas).toString(16)}`] } as never)
    expect(await escrow.payeeFees()).toMatchObject({ balance: 500_000n * maxFeePerGas, needed: 500_000n * maxFeePerGas })
  })
})
