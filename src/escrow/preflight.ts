// The preflight of a client-signed open/topUp transaction: the gateway
// broadcasts only what the chain will execute successfully now. A Tempo node
// accepts a transaction whose calls revert or run out of gas (and charges its
// fee), holds one whose nonce leaves a gap, and silently drops a `0x76` whose
// nonce is used; each time the payer believes its channel is opening. So,
// against the pending block and as the recovered sender, in this order: the
// validity window, the nonce, the fee, then the calls, simulated within the
// transaction's own gas limit (a revert first, then gas).
//
// The simulation (`eth_simulateV1`) runs the call probe (contracts-abi/probe)
// placed at the sender's address: the calls run in one transaction, as in the
// chain's batch, after the fee payment the chain makes before them, each with
// the gas the transaction leaves it. The intrinsic gas is Ethereum's schedule
// plus Tempo's per-call cost; the nonce's cost, which depends on the lane and
// the hardfork, is asked of the node.
//
// Refusals are `mpp_payment_verification_failed` (the client must change the
// transaction) with a detail naming the cause; an RPC that cannot answer is
// `mpp_chain_unavailable`. A transaction the node already knows (a retry) is
// not preflighted: its own receipt decides.
import {
  type Address,
  decodeErrorResult,
  decodeFunctionData,
  encodeFunctionData,
  type Hex,
  hexToBytes,
  keccak256,
  maxUint256,
  numberToHex,
  type PublicClient,
  type RpcTransactionRequest,
} from 'viem'
import { Abis, Addresses } from 'viem/tempo'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { callProbeAbi, callProbeRuntimeBytecode } from '../../contracts-abi/probe/artifact.js'
import { tip20Abi } from '../../contracts-abi/tip20.js'
import { PaymentError } from '../errors/payment-error.js'
import type { RecoveryBackend } from '../secp256k1/backend.js'
import { chosenFeeToken, feeAmount, feeManager, tempoFeeToken } from './fees.js'
import { revertReason } from './revert-reason.js'
import { type Call, decodeSignedTransaction, type SignedTransaction } from './transaction.js'

export type PreflightOptions = {
  client: PublicClient
  chainId: number
  /** A Tempo chain: fees in TIP-20 tokens, 2D and expiring nonces. Otherwise Ethereum's rules. */
  tempo: boolean
  /** The secp256k1 backend the sender is recovered with. */
  recovery: RecoveryBackend
  /** Bounds each RPC call (the escrow adapter's deadline). */
  within: <T>(work: Promise<T>) => Promise<T>
}

/** The nonce key of Tempo's expiring-nonce transactions (TIP-1009). */
const expiringNonceKey = maxUint256
/** How far past the block's time an expiring-nonce transaction's validBefore may be (TIP-1009). */
const expiringNonceMaxSeconds = 30n
/** An account without code: the probe's first call, whose cost is the probe's own. */
const idle: Address = '0x000000000000000000000000000000000000dead'
/** A call to it with one zero byte costs 21,022 gas on every chain (see `nonceGas`). */
const identityPrecompile: Address = '0x0000000000000000000000000000000000000004'
const identityCallGas = 21_022n
/** Every TIP-20 token's address starts with these 12 bytes. */
const tip20Prefix = '0x20c000000000000000000000'

/**
 * Refuses, before anything is sent, a transaction the chain would not execute
 * successfully now; resolves when it would (or when the node already has it).
 */
export async function preflight(serialized: Hex, options: PreflightOptions): Promise<void> {
  const { client, tempo } = options
  const tx = await decodeSignedTransaction(serialized, options.chainId, options.recovery)
  if (tx.authorizes) refuse('Transactions carrying authorizations (EIP-7702 or a Tempo key authorization) are not accepted.')
  // The node cannot even simulate a transaction whose fee token is no TIP-20 address.
  if (tx.feeToken !== undefined && !tx.feeToken.startsWith(tip20Prefix)) refuse(notFeeToken(tx.feeToken))
  if (tx.nonceKey === expiringNonceKey) {
    if (tx.nonce !== 0n) refuse('An expiring-nonce transaction must have nonce 0.')
    if (tx.validBefore === undefined) refuse('An expiring-nonce transaction must set validBefore.')
  }

  /** Starts an RPC call now; its failure surfaces only if its answer is needed. */
  function ask<T>(work: () => Promise<T>): () => Promise<T> {
    const settled = options.within(Promise.resolve().then(work)).then(
      (value) => ({ ok: true as const, value }),
      (cause: unknown) => ({ ok: false as const, cause }),
    )
    return async () => {
      const result = await settled
      if (result.ok) return result.value
      throw new PaymentError('mpp_chain_unavailable', 'Could not check the open/topUp transaction against the chain. Retry shortly.', {
        cause: result.cause,
        extensions: { txHash: keccak256(serialized) },
      })
    }
  }

  const known = ask(() => client.request({ method: 'eth_getTransactionByHash', params: [keccak256(serialized)] }))
  const block = ask(() => client.getBlock({ blockTag: 'pending' }))
  const next = ask(() => nextNonce(client, tx))
  const userToken = ask(async () => (tempo && tx.feeToken === undefined ? chosenFeeToken(client, tx.sender, 'pending') : undefined))
  const nonceCost = ask(async () => (tempo ? nonceGas(client, tx) : 0n))

  if ((await known()) !== null) return
  const { timestamp, baseFeePerGas } = await block()
  checkWindow(tx, timestamp)
  checkNonce(tx, await next())

  const feeToken = tempo ? tempoFeeToken(tx.feeToken, await userToken()) : undefined
  const fee = feeOf(tx, baseFeePerGas ?? 0n, tempo)
  const gas = intrinsicGas(tx, await nonceCost())
  const balance = ask(() =>
    feeToken === undefined
      ? client.getBalance({ address: tx.sender, blockTag: 'pending' })
      : client.readContract({ address: feeToken, abi: tip20Abi, functionName: 'balanceOf', args: [tx.sender], blockTag: 'pending' }),
  )
  const runs = ask(() => simulate(client, tx, { feeToken, upfront: fee.upfront, budget: tx.gas - gas.intrinsic }))

  const simulation = await runs()
  // Before the balance: on an address that is no token, that read fails.
  if (!simulation.feeTokenAccepted) refuse(notFeeToken(tx.feeToken!))
  const held = await balance()
  if (held < fee.max) {
    const unit = feeToken === undefined ? 'wei' : `of token ${feeToken}`
    refuse(`The sender cannot pay the transaction's fee: it may cost up to ${fee.max} ${unit}, and the sender holds ${held}.`)
  }
  checkRuns(tx, gas, simulation)
}

// ------------------------------------------------------------------ checks

function refuse(detail: string): never {
  throw new PaymentError('mpp_payment_verification_failed', detail)
}

const notFeeToken = (token: Address) => `The fee token ${token} is not a token this chain takes fees in (a USD TIP-20 token).`

/**
 * The window the transaction may be included in, against the next block's
 * time. The 30 s bound of expiring nonces holds from Tempo's T1 (viem puts
 * Moderato at T5); an anvil at T0 would also take a later validBefore.
 */
function checkWindow(tx: SignedTransaction, time: bigint) {
  if (tx.validAfter !== undefined && BigInt(tx.validAfter) > time) {
    refuse(`The transaction is not valid yet: its validAfter ${tx.validAfter} is after the next block's time ${time}.`)
  }
  if (tx.validBefore !== undefined && BigInt(tx.validBefore) <= time) {
    refuse(`The transaction has expired: its validBefore ${tx.validBefore} is not after the next block's time ${time}.`)
  }
  if (tx.nonceKey === expiringNonceKey && BigInt(tx.validBefore!) > time + expiringNonceMaxSeconds) {
    refuse(
      `An expiring-nonce transaction must expire within ${expiringNonceMaxSeconds} s of the next block's time ${time}; its validBefore is ${tx.validBefore}.`,
    )
  }
}

/** The sender's next nonce in the transaction's lane: the account nonce, or Tempo's 2D lane (the expiring lane included). */
async function nextNonce(client: PublicClient, tx: SignedTransaction): Promise<bigint> {
  if (tx.nonceKey === 0n) return BigInt(await client.getTransactionCount({ address: tx.sender, blockTag: 'pending' }))
  return client.readContract({
    address: Addresses.nonceManager,
    abi: Abis.nonce,
    functionName: 'getNonce',
    args: [tx.sender, tx.nonceKey],
    blockTag: 'pending',
  })
}

/**
 * The nonce must be the lane's next: a used one is dropped or refused, a
 * later one waits for the missing ones. An expiring nonce is always 0; its
 * lane stays at 0 from Tempo's T1, and before T1 it is an ordinary 2D lane,
 * so one expiring-nonce transaction per sender.
 */
function checkNonce(tx: SignedTransaction, next: bigint) {
  const lane = tx.nonceKey === 0n ? '' : tx.nonceKey === expiringNonceKey ? ' in the expiring-nonce lane' : ` in nonce lane ${tx.nonceKey}`
  if (tx.nonce < next) refuse(`The transaction's nonce ${tx.nonce} was already used${lane}: the sender's next nonce is ${next}.`)
  if (tx.nonce > next) {
    refuse(`The transaction's nonce ${tx.nonce} is ahead of the sender's next nonce ${next}${lane}: it would wait instead of executing.`)
  }
}

type Fee = {
  /** The most the transaction can cost, which the sender must hold: limit × maxFeePerGas. */
  max: bigint
  /** What the chain takes before the calls run: limit × the price at the next block's base fee. */
  upfront: bigint
}

/** Wei on Ethereum; on Tempo the fee token's base units, rounded up as the chain does. */
function feeOf(tx: SignedTransaction, baseFee: bigint, tempo: boolean): Fee {
  const tip = baseFee + tx.maxPriorityFeePerGas
  const price = tip < tx.maxFeePerGas ? tip : tx.maxFeePerGas
  return { max: feeAmount(tx.gas, tx.maxFeePerGas, tempo), upfront: feeAmount(tx.gas, price, tempo) }
}

type IntrinsicGas = {
  /** What the chain charges before the calls run. */
  intrinsic: bigint
  /** EIP-7623's minimum charge for the calldata; the limit must reach it too. */
  floor: bigint
}

/**
 * Ethereum's intrinsic gas (21,000, calldata at 4/16 per zero/non-zero byte,
 * access list at 2,400 per address and 1,900 per key) plus Tempo's cold
 * account access (2,600) for each call after the first, plus `nonceGas`.
 */
function intrinsicGas(tx: SignedTransaction, nonceGas: bigint): IntrinsicGas {
  const tokens = tx.calls.reduce((sum, call) => sum + hexToBytes(call.data).reduce((n, byte) => n + (byte === 0 ? 1n : 4n), 0n), 0n)
  const accessList = tx.accessList.reduce((sum, item) => sum + 2_400n + 1_900n * BigInt(item.storageKeys.length), 0n)
  const calls = 2_600n * BigInt(tx.calls.length - 1)
  return { intrinsic: 21_000n + calls + 4n * tokens + accessList + nonceGas, floor: 21_000n + 10n * tokens }
}

/**
 * What Tempo charges for the transaction's nonce: it depends on the lane, on
 * the nonce being 0 and on the hardfork (before T1: 22,100 for a new 2D lane,
 * 5,000 for a used one; from T1: 250,000 for nonce 0, 13,000 for an expiring
 * nonce, ...). The node knows its hardfork: it estimates a call with the
 * transaction's nonce fields to the identity precompile with one zero byte,
 * which costs 21,022 (21,000 + 4 for the byte + 18 for the precompile): above
 * the 21,000 an estimate's search starts from and above the EIP-7623 floor
 * (21,010), so the estimate is exact.
 */
async function nonceGas(client: PublicClient, tx: SignedTransaction): Promise<bigint> {
  const request: RpcTransactionRequest & { nonceKey?: Hex; validBefore?: Hex; validAfter?: Hex } = {
    from: tx.sender,
    to: identityPrecompile,
    data: '0x00',
    nonce: numberToHex(tx.nonce),
    ...(tx.nonceKey === 0n ? {} : { nonceKey: numberToHex(tx.nonceKey) }),
    ...(tx.validBefore === undefined ? {} : { validBefore: numberToHex(tx.validBefore) }),
    ...(tx.validAfter === undefined ? {} : { validAfter: numberToHex(tx.validAfter) }),
  }
  const estimate = BigInt(await client.request({ method: 'eth_estimateGas', params: [request, 'pending'] }))
  if (estimate < identityCallGas) throw new Error(`eth_estimateGas answered ${estimate} for a call that costs at least ${identityCallGas}`)
  return estimate - identityCallGas
}

// ------------------------------------------------------------------ simulation

type ProbeCall = { target: Address; data: Hex }
type ProbeOutcome = ReturnType<typeof decodeErrorResult<typeof callProbeAbi>>

type Simulation = {
  /** Whether the chain takes fees in the token the transaction names (true when it names none). */
  feeTokenAccepted: boolean
  /** The probe within the transaction's budget. */
  budgeted: ProbeOutcome
  /** The probe with all the gas there is: the reason of a revert, the gas the calls use. */
  unlimited: ProbeOutcome
}

async function simulate(
  client: PublicClient,
  tx: SignedTransaction,
  { feeToken, upfront, budget }: { feeToken: Address | undefined; upfront: bigint; budget: bigint },
): Promise<Simulation> {
  const calls: ProbeCall[] = [{ target: idle, data: '0x' }, ...tx.calls.map((call) => ({ target: call.to, data: call.data }))]
  // The fee the chain takes from the sender before the calls: in the same token it may be what they spend.
  const prelude: ProbeCall[] =
    feeToken !== undefined && upfront > 0n
      ? [{ target: feeToken, data: encodeFunctionData({ abi: tip20Abi, functionName: 'transfer', args: [feeManager, upfront] }) }]
      : []
  // The chain warms the transaction's targets and access list; the probe's measurement assumes warm targets.
  const accessList = [...tx.accessList, ...calls.map((call) => ({ address: call.target, storageKeys: [] }))]
  const run = (limit: bigint) => ({
    account: tx.sender,
    to: tx.sender,
    data: encodeFunctionData({ abi: callProbeAbi, functionName: 'run', args: [prelude, limit, calls] }),
    accessList,
  })
  // A transaction naming its fee token: the probe's own transaction pays in it too (the chain reads the
  // sender's balance in it first, which warms it).
  const chooseFeeToken =
    tx.feeToken === undefined
      ? []
      : [
          {
            account: tx.sender,
            to: feeManager,
            data: encodeFunctionData({ abi: Abis.feeManager, functionName: 'setUserToken', args: [tx.feeToken] }),
          },
        ]
  const [block] = await client.simulateBlocks({
    blockTag: 'pending',
    blocks: [
      {
        stateOverrides: [{ address: tx.sender, code: callProbeRuntimeBytecode }],
        calls: [...chooseFeeToken, run(budget > 0n ? budget : 0n), run(maxUint256)],
      },
    ],
  })
  const results = block!.calls
  // The probe always reverts with its result: anything else means the node did not run it as asked.
  const [budgeted, unlimited] = results.slice(-2).map((result) => decodeErrorResult({ abi: callProbeAbi, data: result.data }))
  return { feeTokenAccepted: chooseFeeToken.length === 0 || results[0]!.status === 'success', budgeted: budgeted!, unlimited: unlimited! }
}

/** Reverts first (whatever the gas), then whether the calls fit the limit. */
function checkRuns(tx: SignedTransaction, gas: IntrinsicGas, { budgeted, unlimited }: Simulation) {
  if (unlimited.errorName === 'PreludeFailed') refuse(`The sender cannot pay the transaction's fee: ${revertReason(unlimited.args[1])}.`)
  if (unlimited.errorName === 'CallFailed') {
    const [index, reason] = unlimited.args
    refuse(`The ${callName(tx.calls[Number(index)]!)} call would revert: ${revertReason(reason)}.`)
  }
  const used = unlimited.args[0].reduce((sum, gasUsed) => sum + gasUsed, 0n)
  const needs = gas.intrinsic + used > gas.floor ? gas.intrinsic + used : gas.floor
  if (tx.gas < needs) refuse(`The transaction would run out of gas: limit ${tx.gas}, needs about ${needs}.`)
  // Within the limit in total, yet short: an inner call is passed only 63/64 of the gas left (EIP-150).
  if (budgeted.errorName !== 'Completed') {
    refuse(
      `The transaction would run out of gas: limit ${tx.gas}, needs more (its calls use about ${needs}, and inner calls get 63/64 of what is left).`,
    )
  }
}

const namedAbi = [...escrowAbi, ...tip20Abi]

/** The function a call makes (open, topUp, approve), for details. */
function callName(call: Call): string {
  try {
    return decodeFunctionData({ abi: namedAbi, data: call.data }).functionName
  } catch {
    return `call to ${call.to}`
  }
}
