// The v2 Escrow adapter (src/escrow/precompile-escrow.ts) on anvil with the
// channel reserve stand-in at the precompile's address, behind the RPC proxy
// (test/support/v2/). Client transactions are signed 0x76 expiring-nonce opens
// and topUps as mppx's client sends them; the adapter broadcasts them (its
// preflight simulating them through the proxy), settles and closes with the
// payee key. Fees are zero (anvil runs with --base-fee 0), so balances are
// asserted to the base unit.
import { type Address, createTestClient, encodeFunctionData, type Hex, http } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { Abis } from 'viem/tempo'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pathUsdAddress } from '../../contracts-abi/tip20.js'
import { PaymentError } from '../../src/errors/payment-error.js'
import { precompileEscrow } from '../../src/escrow/precompile-escrow.js'
import type { CloseEventSource } from '../../src/session/close-events.js'
import type { Escrow } from '../../src/session/escrow.js'
import { closeGracePeriodSeconds, tip20ChannelReserveAddress as reserve } from '../../src/session/v2/reserve.js'
import { signVoucher } from '../../src/session/v2/voucher.js'
import { expectSuccess, pathUsdBalance, type TestClient, testAccounts, testClient, zeroFees } from '../harness/local-chain.js'
import { type StandInChain, startStandInChain } from '../support/v2/stand-in.js'
import { sendPayerCall, signExpiring, signOpen, signTopUp, v2Gas } from '../support/v2/transactions.js'

const chainId = 31337
const voucherContext = { chainId, escrow: reserve } as const

let chain: StandInChain
let funder: TestClient
let payer: TestClient
const payerAccount = privateKeyToAccount(generatePrivateKey())
const payeeAccount = privateKeyToAccount(generatePrivateKey())
let escrow: Escrow & CloseEventSource

const payee = payeeAccount.address.toLowerCase() as Address
const balance = (address: Address) => pathUsdBalance(funder, address)
const voucher = (channelId: Hex, cumulativeAmount: bigint) => signVoucher(payerAccount, voucherContext, { channelId, cumulativeAmount })

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work
  } catch (error) {
    if (error instanceof PaymentError) return error.code
    throw error
  }
  return 'resolved'
}

/** Opens a channel through the adapter: decode, broadcast. */
async function open(deposit: bigint) {
  const signed = await signOpen(payer, { payee, deposit })
  await escrow.broadcast(signed.raw)
  return signed
}

beforeAll(async () => {
  chain = await startStandInChain()
  funder = testClient(chain, testAccounts[0]!)
  payer = testClient(chain, payerAccount)
  // A transfer creating the payer's balance slot costs ~550k gas from t1: more than fundPathUsd's limit.
  const funded = await funder.writeContract({
    address: pathUsdAddress,
    abi: Abis.tip20,
    functionName: 'transfer',
    args: [payerAccount.address, 100_000_000n],
    gas: v2Gas,
    ...zeroFees,
  })
  await expectSuccess(funder, funded)
  escrow = precompileEscrow({
    chain: chain.chain,
    rpcUrl: chain.rpcUrl,
    payee: payeeAccount,
    fees: zeroFees,
    gas: { settle: v2Gas, close: v2Gas },
    pollingIntervalMs: 20,
  })
})

afterAll(async () => {
  await chain?.stop()
})

describe('precompileEscrow', () => {
  it('defaults to the precompile address and validates its options', () => {
    expect(escrow.address).toBe(reserve)
    expect(escrow.chainId).toBe(chainId)
    expect(() => precompileEscrow({ chain: chain.chain } as never)).toThrow(/exactly one of rpcUrl and transport/)
  })

  it('decodes an open into the descriptor the precompile derives the channel id from, then opens it', async () => {
    const signed = await signOpen(payer, { payee, deposit: 5_000_000n })
    const call = await escrow.decodeTransaction(signed.raw)
    expect(call).toEqual({
      kind: 'open',
      payer: payerAccount.address.toLowerCase(),
      payee,
      token: pathUsdAddress,
      deposit: 5_000_000n,
      salt: signed.descriptor.salt,
      authorizedSigner: signed.descriptor.authorizedSigner,
      channelId: signed.channelId,
      descriptor: signed.descriptor,
    })
    expect(await escrow.getChannel(signed.channelId, signed.descriptor)).toBeUndefined()
    const before = await balance(payerAccount.address)
    await escrow.broadcast(signed.raw)
    expect(await balance(payerAccount.address)).toBe(before - 5_000_000n)
    // The id the precompile computed from the transaction is the one the adapter derived.
    expect(await escrow.getChannel(signed.channelId, signed.descriptor)).toEqual({
      payer: payerAccount.address.toLowerCase(),
      payee,
      token: pathUsdAddress,
      authorizedSigner: signed.descriptor.authorizedSigner,
      deposit: 5_000_000n,
      settled: 0n,
      closeRequestedAt: 0n,
      finalized: false,
    })
    // Another descriptor, or none, names no channel.
    expect(await escrow.getChannel(signed.channelId, { ...signed.descriptor, salt: `0x${'11'.repeat(32)}` })).toBeUndefined()
    expect(await escrow.getChannel(signed.channelId)).toBeUndefined()
  })

  it('refuses a transaction that is not one open or topUp call on the precompile', async () => {
    const { descriptor } = await signOpen(payer, { payee, deposit: 1n })
    const openData = encodeFunctionData({
      abi: Abis.tip20ChannelReserve,
      functionName: 'open',
      args: [payee, descriptor.operator, pathUsdAddress, 1_000_000n, descriptor.salt, descriptor.authorizedSigner],
    })
    const approve = encodeFunctionData({ abi: Abis.tip20, functionName: 'approve', args: [reserve, 1_000_000n] })
    const withApprove = await signExpiring(payer, [
      { to: pathUsdAddress, data: approve },
      { to: reserve, data: openData },
    ])
    await expect(escrow.decodeTransaction(withApprove)).rejects.toThrow(/exactly one call/)
    const elsewhere = await signExpiring(payer, [{ to: pathUsdAddress, data: approve }])
    await expect(escrow.decodeTransaction(elsewhere)).rejects.toThrow(/does not call the channel reserve/)
    const requestClose = encodeFunctionData({ abi: Abis.tip20ChannelReserve, functionName: 'requestClose', args: [descriptor] })
    await expect(escrow.decodeTransaction(await signExpiring(payer, [{ to: reserve, data: requestClose }]))).rejects.toThrow(
      /calls requestClose/,
    )
    const zeroDeposit = encodeFunctionData({
      abi: Abis.tip20ChannelReserve,
      functionName: 'open',
      args: [payee, descriptor.operator, pathUsdAddress, 0n, descriptor.salt, descriptor.authorizedSigner],
    })
    await expect(escrow.decodeTransaction(await signExpiring(payer, [{ to: reserve, data: zeroDeposit }]))).rejects.toThrow(
      /between 1 and 2\^96-1/,
    )
    expect(await codeOf(escrow.decodeTransaction('0x1234'))).toBe('mpp_payment_verification_failed')
  })

  it('tops up, settles with the descriptor, and closes capturing exactly the capture amount', async () => {
    const { descriptor, channelId } = await open(3_000_000n)
    const topUp = await signTopUp(payer, descriptor, 2_000_000n)
    expect(await escrow.decodeTransaction(topUp)).toEqual({
      kind: 'topUp',
      sender: payerAccount.address.toLowerCase(),
      channelId,
      additionalDeposit: 2_000_000n,
      descriptor,
    })
    await escrow.broadcast(topUp)
    expect((await escrow.getChannel(channelId, descriptor))?.deposit).toBe(5_000_000n)

    const payeeBefore = await balance(payeeAccount.address)
    await escrow.settle(channelId, 1_000_000n, await voucher(channelId, 1_000_000n), descriptor)
    expect(await balance(payeeAccount.address)).toBe(payeeBefore + 1_000_000n)
    expect((await escrow.getChannel(channelId, descriptor))?.settled).toBe(1_000_000n)
    // Without its descriptor a v2 settle is malformed: refused before anything is read or sent.
    expect(await codeOf(escrow.settle(channelId, 2_000_000n, await voucher(channelId, 2_000_000n)))).toBe('mpp_session_close_failed')

    // A voucher for 4.5 covers a capture of 2.5: the payee gets 1.5 more, the payer the other 2.5 back.
    const payerBefore = await balance(payerAccount.address)
    const { txHash } = await escrow.close(channelId, 4_500_000n, await voucher(channelId, 4_500_000n), {
      descriptor,
      captureAmount: 2_500_000n,
    })
    expect(await balance(payeeAccount.address)).toBe(payeeBefore + 2_500_000n)
    expect(await balance(payerAccount.address)).toBe(payerBefore + 2_500_000n)
    expect(await escrow.transactionStatus(txHash)).toBe('success')
    // Closed: the precompile deleted it, and it reads as never opened.
    expect(await escrow.getChannel(channelId, descriptor)).toBeUndefined()
  })

  it('refuses a close whose capture exceeds its voucher, and one the precompile would revert, before sending', async () => {
    const { descriptor, channelId } = await open(2_000_000n)
    const signature = await voucher(channelId, 1_000_000n)
    expect(await codeOf(escrow.close(channelId, 1_000_000n, signature, { descriptor, captureAmount: 1_000_001n }))).toBe(
      'mpp_session_close_failed',
    )
    expect(await codeOf(escrow.close(channelId, 1_000_000n, signature))).toBe('mpp_session_close_failed')
    // A voucher signed for another amount: the eth_call reverts (InvalidSignature), nothing is sent.
    await expect(escrow.close(channelId, 1_500_000n, signature, { descriptor, captureAmount: 1_000_000n })).rejects.toThrow(
      /voucher signature is not valid/,
    )
    expect((await escrow.getChannel(channelId, descriptor))?.deposit).toBe(2_000_000n)
  })

  it('reports a forced close and its cancellation, and captures exactly what was spent in the grace period', async () => {
    const { descriptor, channelId } = await open(4_000_000n)
    const from = await escrow.latestBlock()
    await sendPayerCall(payer, 'requestClose', descriptor)
    const cancel = await signTopUp(payer, descriptor, 1n)
    await escrow.broadcast(cancel)
    await sendPayerCall(payer, 'requestClose', descriptor)
    const events = await escrow.closeEvents(payee, from + 1n, await escrow.latestBlock())
    expect(events.map((event) => [event.kind, event.channelId])).toEqual([
      ['requested', channelId],
      ['cancelled', channelId],
      ['requested', channelId],
    ])
    const requested = await escrow.getChannel(channelId, descriptor)
    expect(requested?.closeRequestedAt).toBeGreaterThan(0n)

    // Within the grace period the payee closes for exactly the 1.25 spent, from a voucher for 3.
    const anvil = createTestClient({ mode: 'anvil', transport: http(chain.anvil.rpcUrl) })
    await anvil.increaseTime({ seconds: Number(closeGracePeriodSeconds) - 60 })
    const payeeBefore = await balance(payeeAccount.address)
    const payerBefore = await balance(payerAccount.address)
    await escrow.close(channelId, 3_000_000n, await voucher(channelId, 3_000_000n), { descriptor, captureAmount: 1_250_000n })
    expect(await balance(payeeAccount.address)).toBe(payeeBefore + 1_250_000n)
    expect(await balance(payerAccount.address)).toBe(payerBefore + 4_000_001n - 1_250_000n)
  })

  it('reads the payee fees and an unknown transaction', async () => {
    expect(await escrow.payeeFees()).toEqual({ address: payee, token: pathUsdAddress, balance: expect.any(BigInt), needed: 0n })
    expect(await escrow.transactionStatus(`0x${'ab'.repeat(32)}`)).toBe('unknown')
  })
})
