// Session v2 end to end on anvil: the TIP-20 channel reserve stand-in at the
// precompile's address, reached through the RPC proxy (test/support/v2/).
// Channels are opened by Tempo 0x76 expiring-nonce transactions as clients send
// them, and the pure derivations of src/session/v2/ are checked against what
// the chain computes: the channel id, the voucher digest, and the
// expiringNonceHash, which anvil's own expiring-nonce replay set records.
// Balances are exact: anvil runs with --base-fee 0 and every transaction pays
// zero fees.
import { Address as OxAddress, P256 } from 'ox'
import { SignatureEnvelope, TxEnvelopeTempo } from 'ox/tempo'
import {
  type Account,
  type Address,
  BaseError,
  type ContractFunctionArgs,
  type ContractFunctionName,
  ContractFunctionRevertedError,
  encodeAbiParameters,
  encodeFunctionData,
  type Hex,
  hexToString,
  keccak256,
  numberToHex,
  parseEventLogs,
  type StateOverride,
  type TransactionReceipt,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { sendRawTransactionSync } from 'viem/actions'
import { Abis } from 'viem/tempo'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pathUsdAddress, tip20Abi } from '../../../contracts-abi/tip20.js'
import { maxUint96 } from '../../../src/session/v2/amount.js'
import { computeChannelId } from '../../../src/session/v2/channel-id.js'
import { type ChannelDescriptor, zeroAddress } from '../../../src/session/v2/descriptor.js'
import { decodeSignedTransaction } from '../../../src/session/v2/open-transaction.js'
import { closeGracePeriodSeconds, tip20ChannelReserveAddress as reserve } from '../../../src/session/v2/reserve.js'
import { parseVoucherSignature } from '../../../src/session/v2/signature.js'
import { signVoucher, voucherDigest } from '../../../src/session/v2/voucher.js'
import { expectSuccess, pathUsdBalance, type TestClient, testAccounts, testClient, zeroFees } from '../../harness/local-chain.js'
import { errorCode } from '../../support/v2/arbitraries.js'
import { type StandInChain, startStandInChain } from '../../support/v2/stand-in.js'
import { openContextSlot, rpcSimulationContext } from '../../support/v2/stand-in-storage.js'

const abi = Abis.tip20ChannelReserve
const chainId = 31337
const context = { chainId, escrow: reserve } as const
/** Set on every transaction (anvil cannot estimate 0x76). Measured on t4: opens ~325k, the most ~570k (a settle creating the payee's balance slot: each new slot costs ~250k from t1). */
const gas = 3_000_000n
const nonceManager = '0x4e4f4e4345000000000000000000000000000000'
const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

let chain: StandInChain
let funder: TestClient
const payerAccount = privateKeyToAccount(generatePrivateKey())
const payeeAccount = privateKeyToAccount(generatePrivateKey())
const operatorAccount = privateKeyToAccount(generatePrivateKey())
let payer: TestClient
let payee: TestClient
let operator: TestClient

const client = (account: Account) => testClient({ rpcUrl: chain.rpcUrl, chain: chain.chain }, account)
const salt = () => keccak256(generatePrivateKey())
const balance = (address: Address) => pathUsdBalance(funder, address)
const state = (channelId: Hex) => funder.readContract({ address: reserve, abi, functionName: 'getChannelState', args: [channelId] })
const zeroState = { settled: 0n, deposit: 0n, closeRequestedAt: 0 }
const allowance = (owner: Address) =>
  funder.readContract({ address: pathUsdAddress, abi: tip20Abi, functionName: 'allowance', args: [owner, reserve] })

/** The precompile's storage: packed state at mapping slot 0 (settled bits 0–95, deposit 96–191, closeRequestedAt 192–223). */
const channelSlot = (channelId: Hex) => keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'uint256' }], [channelId, 0n]))
const packed = (settled: bigint, deposit: bigint, closeRequestedAt: number) =>
  numberToHex(settled | (deposit << 96n) | (BigInt(closeRequestedAt) << 192n), { size: 32 })

/** validBefore under which anvil's nonce manager recorded an expiring-nonce transaction hash (its replay set, slot 1); 0 if never. */
async function recordedExpiry(expiringNonceHash: Hex): Promise<bigint> {
  const slot = keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'uint256' }], [expiringNonceHash, 1n]))
  return BigInt((await funder.getStorageAt({ address: nonceManager, slot })) ?? '0x0')
}

async function transfer(to: Address, amount: bigint) {
  const hash = await funder.writeContract({
    address: pathUsdAddress,
    abi: tip20Abi,
    functionName: 'transfer',
    args: [to, amount],
    gas,
    ...zeroFees,
  })
  await expectSuccess(funder, hash)
}

type Mutating = ContractFunctionName<typeof abi, 'nonpayable'>
type Args<name extends Mutating> = ContractFunctionArgs<typeof abi, 'nonpayable', name>

/** Sends a precompile call (0x76, zero fees) through the proxy and returns its receipt; throws if it reverted. */
async function send<name extends Mutating>(from: TestClient, functionName: name, args: Args<name>) {
  // viem's generic parameter type does not narrow through `name`; the signature above types the call.
  const hash = await from.writeContract({ address: reserve, abi, functionName, args, gas, ...zeroFees } as never)
  return expectSuccess(from, hash)
}

/** The precompile error a call simulated through `from`'s RPC reverts with, or undefined if it succeeds. */
async function revertOf<name extends Mutating>(
  from: TestClient,
  functionName: name,
  args: Args<name>,
  stateOverride?: StateOverride,
): Promise<string | undefined> {
  try {
    await from.simulateContract({ address: reserve, abi, functionName, args, account: from.account, stateOverride } as never)
    return undefined
  } catch (error) {
    const reverted = error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : undefined
    if (reverted instanceof ContractFunctionRevertedError) return reverted.data?.errorName ?? 'revert without data'
    throw error
  }
}

/** Event arguments with addresses lowercase (viem checksums them), for comparison with descriptors. */
const lower = (args: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(args).map(([key, value]) => [key, typeof value === 'string' ? value.toLowerCase() : value]))

function event<const name extends 'ChannelOpened' | 'Settled' | 'TopUp' | 'CloseRequested' | 'ChannelClosed' | 'CloseRequestCancelled'>(
  receipt: TransactionReceipt,
  eventName: name,
) {
  return parseEventLogs({ abi, logs: receipt.logs, eventName, strict: true })
}

type OpenOptions = { deposit: bigint; operator?: Address; authorizedSigner?: Address; feePayer?: Account }

/**
 * Opens a channel as a client does: one Tempo 0x76 transaction with a single
 * `open` call, expiring nonce (nonceKey 'expiring', nonce 0, validBefore ≤ now + 25 s),
 * signed, then broadcast raw through the proxy. The descriptor is built from
 * the pure derivation, as a server would.
 */
async function openChannel(from: TestClient, options: OpenOptions) {
  const channelSalt = salt()
  const operatorAddress = options.operator ?? zeroAddress
  const authorizedSigner = options.authorizedSigner ?? zeroAddress
  const now = (await funder.getBlock()).timestamp
  const request = await from.prepareTransactionRequest({
    calls: [
      {
        to: reserve,
        data: encodeFunctionData({
          abi,
          functionName: 'open',
          args: [payeeAccount.address, operatorAddress, pathUsdAddress, options.deposit, channelSalt, authorizedSigner],
        }),
      },
    ],
    gas,
    ...zeroFees,
    nonceKey: 'expiring',
    nonce: 0,
    validBefore: Number(now) + 25,
    ...(options.feePayer ? { feePayer: options.feePayer } : {}),
    // The generic Chain type knows none of Tempo's fields (calls, nonceKey, validBefore, feePayer); the chain object does.
  } as never)
  const raw = await from.signTransaction(request as never)
  const decoded = decodeSignedTransaction(raw)
  const descriptor: ChannelDescriptor = {
    payer: decoded.sender,
    payee: payeeAccount.address.toLowerCase() as Address,
    operator: operatorAddress.toLowerCase() as Address,
    token: pathUsdAddress,
    salt: channelSalt,
    authorizedSigner: authorizedSigner.toLowerCase() as Address,
    expiringNonceHash: decoded.expiringNonceHash,
  }
  const receipt = await sendRawTransactionSync(from, { serializedTransaction: raw })
  expect(receipt.status).toBe('success')
  return { descriptor, channelId: computeChannelId(descriptor, reserve, chainId), receipt, raw, validBefore: Number(now) + 25 }
}

const voucher = (channelId: Hex, cumulativeAmount: bigint, signer: Account = payerAccount) =>
  signVoucher(signer, context, { channelId, cumulativeAmount })

beforeAll(async () => {
  chain = await startStandInChain()
  funder = client(testAccounts[0]!)
  payer = client(payerAccount)
  payee = client(payeeAccount)
  operator = client(operatorAccount)
  await transfer(payerAccount.address, 100_000_000n)
})

afterAll(async () => {
  await chain?.stop()
})

describe('the stand-in on anvil', () => {
  it('is installed at the precompile address and derives ids and digests as src/session/v2 does', async () => {
    const descriptor: ChannelDescriptor = {
      payer: payerAccount.address.toLowerCase() as Address,
      payee: payeeAccount.address.toLowerCase() as Address,
      operator: operatorAccount.address.toLowerCase() as Address,
      token: pathUsdAddress,
      salt: salt(),
      authorizedSigner: zeroAddress,
      expiringNonceHash: salt(),
    }
    const d = descriptor
    const onChainId = await funder.readContract({
      address: reserve,
      abi,
      functionName: 'computeChannelId',
      args: [d.payer, d.payee, d.operator, d.token, d.salt, d.authorizedSigner, d.expiringNonceHash],
    })
    expect(onChainId).toBe(computeChannelId(descriptor, reserve, chainId))
    for (const amount of [0n, 1n, 123_456_789n, maxUint96]) {
      const digest = await funder.readContract({ address: reserve, abi, functionName: 'getVoucherDigest', args: [onChainId, amount] })
      expect(digest).toBe(voucherDigest(context, { channelId: onChainId, cumulativeAmount: amount }))
    }
    expect(await funder.readContract({ address: reserve, abi, functionName: 'CLOSE_GRACE_PERIOD' })).toBe(closeGracePeriodSeconds)
    expect(await funder.readContract({ address: reserve, abi, functionName: 'VOUCHER_TYPEHASH' })).toBe(
      keccak256(new TextEncoder().encode('Voucher(bytes32 channelId,uint96 cumulativeAmount)')),
    )
    expect(await funder.readContract({ address: reserve, abi, functionName: 'storageCredits', args: [d.payer] })).toBe(0n)
    // A channel that was never opened reads as zeros.
    expect(await state(onChainId)).toEqual(zeroState)
  })

  it('the simulation context is the 32 ASCII bytes the node uses', () => {
    expect(hexToString(rpcSimulationContext)).toBe('TEMPO_RPC_SIMULATION_MPP_CONTEXT')
  })

  it('opens with an expiring-nonce 0x76 transaction: the node records the same expiringNonceHash, the channel id is ours', async () => {
    const before = await balance(payerAccount.address)
    const reserveBefore = await balance(reserve)
    const { descriptor, channelId, receipt, validBefore } = await openChannel(payer, { deposit: 5_000_000n })

    // anvil's Tempo handler records each expiring-nonce transaction in the nonce manager's replay
    // set under keccak256(encodeForSigning ‖ sender): our hash is the key it used.
    expect(await recordedExpiry(descriptor.expiringNonceHash)).toBe(BigInt(validBefore))

    const [opened] = event(receipt, 'ChannelOpened')
    expect(lower(opened!.args)).toEqual({ channelId, ...descriptor, deposit: 5_000_000n })
    expect(await state(channelId)).toEqual({ settled: 0n, deposit: 5_000_000n, closeRequestedAt: 0 })
    expect(await funder.getStorageAt({ address: reserve, slot: channelSlot(channelId) })).toBe(packed(0n, 5_000_000n, 0))
    expect(await balance(payerAccount.address)).toBe(before - 5_000_000n)
    expect(await balance(reserve)).toBe(reserveBefore + 5_000_000n)
    // The allowance the proxy wrote was spent exactly, and the hand-off slot was consumed.
    expect(await allowance(payerAccount.address)).toBe(0n)
    expect(await funder.getStorageAt({ address: reserve, slot: openContextSlot(descriptor.payer, descriptor.salt) })).toBe(
      numberToHex(0n, { size: 32 }),
    )
  })

  it('cooperative path: topUp, settle, close capturing exactly `spent` — exact balances', async () => {
    const payerStart = await balance(payerAccount.address)
    const payeeStart = await balance(payeeAccount.address)
    const reserveStart = await balance(reserve)
    const { descriptor, channelId } = await openChannel(payer, { deposit: 3_000_000n })

    const topUp = await send(payer, 'topUp', [descriptor, 2_000_000n])
    expect(event(topUp, 'TopUp')[0]!.args).toMatchObject({ channelId, additionalDeposit: 2_000_000n, newDeposit: 5_000_000n })

    const settle = await send(payee, 'settle', [descriptor, 1_200_000n, await voucher(channelId, 1_200_000n)])
    expect(event(settle, 'Settled')[0]!.args).toMatchObject({
      channelId,
      cumulativeAmount: 1_200_000n,
      deltaPaid: 1_200_000n,
      newSettled: 1_200_000n,
    })
    expect(await state(channelId)).toEqual({ settled: 1_200_000n, deposit: 5_000_000n, closeRequestedAt: 0 })

    // The client signed up to 4.0, the server delivered 3.1: the close captures 3.1, not 4.0.
    const spent = 3_100_000n
    const close = await send(payee, 'close', [descriptor, 4_000_000n, spent, await voucher(channelId, 4_000_000n)])
    expect(event(close, 'ChannelClosed')[0]!.args).toMatchObject({ channelId, settledToPayee: spent, refundedToPayer: 5_000_000n - spent })

    expect(await balance(payeeAccount.address)).toBe(payeeStart + spent)
    expect(await balance(payerAccount.address)).toBe(payerStart - spent)
    expect(await balance(reserve)).toBe(reserveStart)
    // Closed: no slot left, all zeros through every read.
    expect(await funder.getStorageAt({ address: reserve, slot: channelSlot(channelId) })).toBe(numberToHex(0n, { size: 32 }))
    expect(await state(channelId)).toEqual(zeroState)
    const channel = await funder.readContract({ address: reserve, abi, functionName: 'getChannel', args: [descriptor] })
    expect({ descriptor: lower(channel.descriptor), state: channel.state }).toEqual({ descriptor, state: zeroState })
    expect(
      await funder.readContract({ address: reserve, abi, functionName: 'getChannelStatesBatch', args: [[channelId, channelId]] }),
    ).toEqual([zeroState, zeroState])
    expect(await revertOf(payee, 'settle', [descriptor, 4_000_000n, await voucher(channelId, 4_000_000n)])).toBe('ChannelNotFound')
  })

  it('opens with an EIP-1559 transaction too: the channel id uses that transaction’s hash', async () => {
    const channelSalt = salt()
    const raw = await payerAccount.signTransaction({
      type: 'eip1559',
      chainId,
      nonce: await funder.getTransactionCount({ address: payerAccount.address, blockTag: 'pending' }),
      to: reserve,
      data: encodeFunctionData({
        abi,
        functionName: 'open',
        args: [payeeAccount.address, zeroAddress, pathUsdAddress, 1_000_000n, channelSalt, zeroAddress],
      }),
      gas,
      ...zeroFees,
    })
    const decoded = decodeSignedTransaction(raw)
    expect(decoded.type).toBe('eip1559')
    const receipt = await sendRawTransactionSync(payer, { serializedTransaction: raw })
    expect(receipt.status).toBe('success')
    const descriptor: ChannelDescriptor = {
      payer: decoded.sender,
      payee: payeeAccount.address.toLowerCase() as Address,
      operator: zeroAddress,
      token: pathUsdAddress,
      salt: channelSalt,
      authorizedSigner: zeroAddress,
      expiringNonceHash: decoded.expiringNonceHash,
    }
    expect(lower(event(receipt, 'ChannelOpened')[0]!.args)).toEqual({
      channelId: computeChannelId(descriptor, reserve, chainId),
      ...descriptor,
      deposit: 1_000_000n,
    })
  })

  it('a sponsor’s co-signature does not change expiringNonceHash: the node records the hash of the payer’s signed form', async () => {
    const { descriptor, channelId, receipt, raw, validBefore } = await openChannel(payer, {
      deposit: 1_000_000n,
      feePayer: testAccounts[4]!,
    })
    expect(TxEnvelopeTempo.deserialize(raw as TxEnvelopeTempo.Serialized).feePayerSignature).toBeTruthy()
    expect(await recordedExpiry(descriptor.expiringNonceHash)).toBe(BigInt(validBefore))
    expect(event(receipt, 'ChannelOpened')[0]!.args.channelId).toBe(channelId)
  })

  it('simulates an open as the node does: eth_call sees the constant context and writes nothing; without the proxy there is none', async () => {
    const channelSalt = salt()
    const args = [payeeAccount.address, zeroAddress, pathUsdAddress, 1_000_000n, channelSalt, zeroAddress] as const
    const { result } = await payer.simulateContract({ address: reserve, abi, functionName: 'open', args, account: payerAccount })
    const simulated: ChannelDescriptor = {
      payer: payerAccount.address.toLowerCase() as Address,
      payee: payeeAccount.address.toLowerCase() as Address,
      operator: zeroAddress,
      token: pathUsdAddress,
      salt: channelSalt,
      authorizedSigner: zeroAddress,
      expiringNonceHash: rpcSimulationContext,
    }
    expect(result).toBe(computeChannelId(simulated, reserve, chainId))
    expect(await payer.estimateContractGas({ address: reserve, abi, functionName: 'open', args, account: payerAccount })).toBeGreaterThan(
      0n,
    )
    expect(await funder.getStorageAt({ address: reserve, slot: openContextSlot(simulated.payer, channelSalt) })).toBe(
      numberToHex(0n, { size: 32 }),
    )
    expect(await allowance(payerAccount.address)).toBe(0n)
    // Straight at anvil, the stand-in has no context, as the node's precompile would have none.
    const direct = testClient({ rpcUrl: chain.anvil.rpcUrl, chain: chain.anvil.chain }, payerAccount)
    expect(await revertOf(direct, 'open', [...args])).toBe('ExpiringNonceHashNotSet')
  })

  it('the proxy answers a transaction it cannot decode with an error instead of forwarding it', async () => {
    const legacy = await payerAccount.signTransaction({ type: 'legacy', chainId, nonce: 0, to: reserve, gas, gasPrice: 0n })
    const response = await fetch(chain.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'eth_sendRawTransaction', params: [legacy] }),
    })
    const body = (await response.json()) as { id: number; error?: { code: number; message: string } }
    expect(body.id).toBe(7)
    expect(body.error?.code).toBe(-32602)
  })

  it('enforces TIP-1034: who may call, amount bounds, capture bounds; the operator acts for the payee', async () => {
    const { descriptor, channelId } = await openChannel(payer, { deposit: 1_000_000n, operator: operatorAccount.address })
    const v500k = await voucher(channelId, 500_000n)
    expect(await revertOf(funder, 'settle', [descriptor, 500_000n, v500k])).toBe('NotPayeeOrOperator')
    expect(await revertOf(payer, 'settle', [descriptor, 500_000n, v500k])).toBe('NotPayeeOrOperator')
    expect(await revertOf(payer, 'close', [descriptor, 500_000n, 500_000n, v500k])).toBe('NotPayeeOrOperator')
    expect(await revertOf(payee, 'topUp', [descriptor, 1n])).toBe('NotPayer')
    expect(await revertOf(payee, 'requestClose', [descriptor])).toBe('NotPayer')
    expect(await revertOf(operator, 'withdraw', [descriptor])).toBe('NotPayer')
    expect(await revertOf(payee, 'settle', [descriptor, 1_000_001n, await voucher(channelId, 1_000_001n)])).toBe('AmountExceedsDeposit')
    expect(await revertOf(payee, 'settle', [descriptor, 0n, await voucher(channelId, 0n)])).toBe('AmountNotIncreasing')

    const payeeBefore = await balance(payeeAccount.address)
    await send(operator, 'settle', [descriptor, 500_000n, v500k])
    expect(await balance(payeeAccount.address)).toBe(payeeBefore + 500_000n)
    expect(await revertOf(payee, 'settle', [descriptor, 500_000n, v500k])).toBe('AmountNotIncreasing')

    // close: settled ≤ capture ≤ cumulativeAmount, and capture ≤ deposit (the voucher may exceed the deposit).
    const v2m = await voucher(channelId, 2_000_000n)
    expect(await revertOf(payee, 'close', [descriptor, 2_000_000n, 499_999n, v2m])).toBe('CaptureAmountInvalid')
    expect(await revertOf(payee, 'close', [descriptor, 600_000n, 600_001n, await voucher(channelId, 600_000n)])).toBe(
      'CaptureAmountInvalid',
    )
    expect(await revertOf(payee, 'close', [descriptor, 2_000_000n, 1_000_001n, v2m])).toBe('AmountExceedsDeposit')
    expect(await revertOf(payee, 'close', [descriptor, 2_000_000n, 1_000_000n, v2m])).toBeUndefined()
    expect(await revertOf(payee, 'close', [descriptor, 2_000_000n, 600_000n, v500k])).toBe('InvalidSignature')
    // Capturing no more than is settled moves nothing to the payee: no voucher needed.
    const payerBefore = await balance(payerAccount.address)
    await send(operator, 'close', [descriptor, 500_000n, 500_000n, '0x'])
    expect(await balance(payerAccount.address)).toBe(payerBefore + 500_000n)
    expect(await balance(payeeAccount.address)).toBe(payeeBefore + 500_000n)
    expect(await state(channelId)).toEqual(zeroState)
  })

  it('refuses bad opens, a duplicate channel and a deposit overflow (the last two through state overrides)', async () => {
    const openArgs = (payeeAddress: Address, deposit: bigint, channelSalt = salt()) =>
      [payeeAddress, zeroAddress, pathUsdAddress, deposit, channelSalt, zeroAddress] as const
    expect(await revertOf(payer, 'open', openArgs(zeroAddress, 1n))).toBe('InvalidPayee')
    expect(await revertOf(payer, 'open', openArgs(pathUsdAddress, 1n))).toBe('InvalidPayee')
    expect(await revertOf(payer, 'open', openArgs(payeeAccount.address, 0n))).toBe('ZeroDeposit')

    // A simulated open derives its id from the constant context: mark that id open, and the open collides.
    const channelSalt = salt()
    const simulatedId = computeChannelId(
      {
        payer: payerAccount.address.toLowerCase() as Address,
        payee: payeeAccount.address.toLowerCase() as Address,
        operator: zeroAddress,
        token: pathUsdAddress,
        salt: channelSalt,
        authorizedSigner: zeroAddress,
        expiringNonceHash: rpcSimulationContext,
      },
      reserve,
      chainId,
    )
    const taken: StateOverride = [{ address: reserve, stateDiff: [{ slot: channelSlot(simulatedId), value: packed(0n, 1n, 0) }] }]
    expect(await revertOf(payer, 'open', openArgs(payeeAccount.address, 1n, channelSalt), taken)).toBe('ChannelAlreadyExists')
    expect(await revertOf(payer, 'open', openArgs(payeeAccount.address, 1n, channelSalt))).toBeUndefined()

    const { descriptor, channelId } = await openChannel(payer, { deposit: 1n })
    const full: StateOverride = [{ address: reserve, stateDiff: [{ slot: channelSlot(channelId), value: packed(0n, maxUint96, 0) }] }]
    expect(await revertOf(payer, 'topUp', [descriptor, 1n], full)).toBe('DepositOverflow')
    expect(await revertOf(payer, 'topUp', [descriptor, 1n])).toBeUndefined()
  })

  it('checks vouchers with the chain’s TIP-1020 verifier, whose verdicts parseVoucherSignature shares', async () => {
    const { descriptor, channelId } = await openChannel(payer, { deposit: 1_000_000n })
    const amount = 100_000n
    const good = await voucher(channelId, amount)
    const { r, s, yParity } = parseVoucherSignature(good)
    const rsv = (sValue: bigint, v: number) =>
      `0x${r.toString(16).padStart(64, '0')}${sValue.toString(16).padStart(64, '0')}${v.toString(16).padStart(2, '0')}` as Hex
    const keychain = SignatureEnvelope.serialize(
      SignatureEnvelope.from({ userAddress: payerAccount.address, inner: SignatureEnvelope.from({ r, s, yParity }), version: 'v2' }),
    )
    // [case, the chain's verdict (undefined: settles), parseVoucherSignature's code (undefined: accepted)]
    const cases: [string, Hex, string | undefined, string | undefined][] = [
      ['v 27/28', good, undefined, undefined],
      ['v 0/1', rsv(s, yParity), undefined, undefined],
      ['high-s twin', rsv(n - s, 28 - yParity), 'InvalidSignature', 'signature_not_canonical'],
      ['64-byte compact', good.slice(0, 130) as Hex, 'InvalidSignature', 'signature_malformed'],
      ['keychain wrapper of the payer', keychain, 'InvalidSignature', 'signature_type_rejected'],
      // Well-formed but from the wrong key: the engine's signer comparison refuses it.
      ['another signer', await voucher(channelId, amount, operatorAccount), 'InvalidSignature', undefined],
    ]
    for (const [label, signature, onChain, ours] of cases) {
      expect(await revertOf(payee, 'settle', [descriptor, amount, signature]), label).toBe(onChain)
      expect(
        errorCode(() => parseVoucherSignature(signature)),
        label,
      ).toBe(ours)
    }

    // With an authorizedSigner, only its signature counts, not the payer's.
    const signer = privateKeyToAccount(generatePrivateKey())
    const delegated = await openChannel(payer, { deposit: 1_000_000n, authorizedSigner: signer.address })
    expect(await revertOf(payee, 'settle', [delegated.descriptor, amount, await voucher(delegated.channelId, amount)])).toBe(
      'InvalidSignature',
    )
    expect(
      await revertOf(payee, 'settle', [delegated.descriptor, amount, await voucher(delegated.channelId, amount, signer)]),
    ).toBeUndefined()
  })

  it('accepts on chain a P256 voucher (TIP-1020) that src/session/v2 refuses as unsupported', async () => {
    const key = P256.createKeyPair()
    const { descriptor, channelId } = await openChannel(payer, {
      deposit: 1_000_000n,
      authorizedSigner: OxAddress.fromPublicKey(key.publicKey),
    })
    const payload = voucherDigest(context, { channelId, cumulativeAmount: 1n })
    const signature = SignatureEnvelope.serialize(
      SignatureEnvelope.from({ signature: P256.sign({ payload, privateKey: key.privateKey }), publicKey: key.publicKey, prehash: false }),
    )
    expect(await revertOf(payee, 'settle', [descriptor, 1n, signature])).toBeUndefined()
    expect(errorCode(() => parseVoucherSignature(signature))).toBe('signature_type_unsupported')
  })

  it('forced path: requestClose, topUp cancels it, requestClose, settle during grace, withdraw after 900 s — exact balances', async () => {
    const payerStart = await balance(payerAccount.address)
    const payeeStart = await balance(payeeAccount.address)
    const { descriptor, channelId } = await openChannel(payer, { deposit: 2_000_000n })

    const first = await send(payer, 'requestClose', [descriptor])
    const requestedAt = (await state(channelId)).closeRequestedAt
    const block = await funder.getBlock({ blockNumber: first.blockNumber })
    expect(requestedAt).toBe(Number(block.timestamp))
    expect(event(first, 'CloseRequested')[0]!.args.closeGraceEnd).toBe(block.timestamp + closeGracePeriodSeconds)
    // A zero topUp only cancels the request.
    const cancel = await send(payer, 'topUp', [descriptor, 0n])
    expect(event(cancel, 'CloseRequestCancelled')).toHaveLength(1)
    expect(await state(channelId)).toEqual({ settled: 0n, deposit: 2_000_000n, closeRequestedAt: 0 })

    await send(payer, 'requestClose', [descriptor])
    const closeRequestedAt = (await state(channelId)).closeRequestedAt
    await send(payee, 'settle', [descriptor, 700_000n, await voucher(channelId, 700_000n)])
    expect(await revertOf(payer, 'withdraw', [descriptor])).toBe('CloseNotReady')

    await funder.request({ method: 'evm_increaseTime', params: [Number(closeGracePeriodSeconds)] } as never)
    await funder.request({ method: 'evm_mine', params: [] } as never)
    expect((await funder.getBlock()).timestamp).toBeGreaterThanOrEqual(BigInt(closeRequestedAt) + closeGracePeriodSeconds)

    const withdraw = await send(payer, 'withdraw', [descriptor])
    expect(event(withdraw, 'ChannelClosed')[0]!.args).toMatchObject({ channelId, settledToPayee: 700_000n, refundedToPayer: 1_300_000n })
    expect(await state(channelId)).toEqual(zeroState)
    expect(await balance(payerAccount.address)).toBe(payerStart - 700_000n)
    expect(await balance(payeeAccount.address)).toBe(payeeStart + 700_000n)
  })
})
