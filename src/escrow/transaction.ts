// Decoding of a client-signed open/topUp transaction into the one escrow call
// it makes (port.ts `EscrowCall`). Pure: no RPC (except the optional channel
// token lookup a topUp with an approve needs). Everything the server relies on
// is checked here (chain id, target, function, sender); what only the chain can
// tell (balances, nonces, gas, the channel's state) is checked by the preflight
// before broadcasting (preflight.ts) and by reading the channel afterwards.
//
// Rejections are `mpp_payment_verification_failed` with a short detail that
// tells the client what to change. Details never quote the transaction or its
// signature.

import { TokenId } from 'ox/tempo'
import {
  type AccessList,
  type Address,
  decodeFunctionData,
  type Hex,
  keccak256,
  maxUint128,
  numberToHex,
  parseTransaction,
  serializeSignature,
  serializeTransaction,
} from 'viem'
import { Transaction } from 'viem/tempo'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { tip20Abi } from '../../contracts-abi/tip20.js'
import { PaymentError } from '../errors/payment-error.js'
import type { RecoveryBackend } from '../secp256k1/backend.js'
import { recoverAddress } from '../secp256k1/recover.js'
import { selectRecoveryBackend } from '../secp256k1/select.js'
import type { EscrowCall } from '../session/escrow.js'
import { computeChannelId } from '../session/v1/channel-id.js'
import { secp256k1HalfOrder } from '../util/secp256k1.js'

/** The escrow deployment a transaction must target. */
export type EscrowTarget = {
  /** Escrow contract address (any case). */
  escrow: Address
  chainId: number
}

/**
 * Upper bound on the serialized size, checked before any decoding. An open
 * (approve + open, one secp256k1 signature) is about 400 bytes; 16 KiB leaves
 * room for access lists and authorizations without letting a client make the
 * server RLP-decode megabytes.
 */
export const maxTransactionBytes = 16 * 1024

/** One call of a transaction: its target and calldata (lowercase). */
export type Call = { to: Address; data: Hex }

function reject(detail: string, cause?: unknown): never {
  throw new PaymentError('mpp_payment_verification_failed', detail, cause === undefined ? {} : { cause })
}

const lower = <T extends Hex>(value: T) => value.toLowerCase() as T

export type DecodeOptions = {
  /**
   * The token of an existing channel (lowercase or not), `undefined` when the
   * channel does not exist. Lets a topUp carry an approve of that token; the
   * only lookup decoding may do. Without it, a topUp must be the only call.
   */
  channelToken?: (channelId: Hex) => Promise<Address | undefined>
  /** The secp256k1 backend the sender is recovered with. Default: the fastest this runtime loads (`selectRecoveryBackend()`). */
  recovery?: RecoveryBackend
}

/**
 * Decodes and checks a client-signed Tempo `0x76` or EIP-1559 transaction.
 * Throws `PaymentError('mpp_payment_verification_failed')` unless it makes
 * exactly one `open` or `topUp` call on `target.escrow` on `target.chainId`;
 * a `0x76` transaction may first approve the escrow on the channel's token.
 * (`mpp_channel_not_found` for a topUp with an approve on an unknown channel.)
 */
export async function decodeEscrowTransaction(serialized: Hex, target: EscrowTarget, options: DecodeOptions = {}): Promise<EscrowCall> {
  const tx = await decodeSignedTransaction(serialized, target.chainId, options.recovery ?? selectRecoveryBackend().backend)
  return interpret(tx.calls, tx.sender, lower(target.escrow), target.chainId, options)
}

/**
 * A client-signed transaction as the chain will see it: the sender recovered
 * from its signature, its calls, and the fields that decide whether and how
 * the chain executes it. Addresses lowercase.
 */
export type SignedTransaction = {
  type: 'tempo' | 'eip1559'
  sender: Address
  calls: readonly Call[]
  nonce: bigint
  /** Tempo's nonce lane: 0 the protocol nonce, 2^256-1 an expiring nonce, any other a 2D lane. 0 for EIP-1559. */
  nonceKey: bigint
  gas: bigint
  maxFeePerGas: bigint
  maxPriorityFeePerGas: bigint
  /** Tempo: the TIP-20 token the fee is paid in, when the transaction names one. */
  feeToken: Address | undefined
  /** Tempo: unix seconds from which / before which the transaction is valid, when set. */
  validAfter: number | undefined
  validBefore: number | undefined
  accessList: AccessList
  /** Whether it carries EIP-7702 authorizations or a Tempo key authorization. */
  authorizes: boolean
}

/**
 * Decodes a client-signed Tempo `0x76` or EIP-1559 transaction for `chainId`
 * and recovers its sender on `recovery`. Throws `PaymentError('mpp_payment_verification_failed')`
 * for anything else, an unsigned or non-canonically signed transaction, native
 * value or contract creation.
 */
export async function decodeSignedTransaction(serialized: Hex, chainId: number, recovery: RecoveryBackend): Promise<SignedTransaction> {
  if (typeof serialized !== 'string' || !/^0x(?:[0-9a-fA-F]{2})+$/.test(serialized)) {
    reject('The transaction must be 0x-prefixed hex of the signed, serialized transaction.')
  }
  if ((serialized.length - 2) / 2 > maxTransactionBytes) reject(`The transaction exceeds ${maxTransactionBytes} bytes.`)

  const type = serialized.slice(0, 4).toLowerCase()
  const decoded =
    type === '0x76'
      ? await decodeTempo(serialized, chainId, recovery)
      : type === '0x02'
        ? await decodeEip1559(serialized, chainId, recovery)
        : reject('Only Tempo (0x76) and EIP-1559 (0x02) transactions are accepted.')

  for (const call of decoded.calls) {
    if (call.value) reject('The transaction must not transfer native value.')
  }
  const calls = decoded.calls.map((call, index): Call => {
    if (!call.to) reject(`Call ${index} creates a contract; only calls to the escrow are accepted.`)
    return { to: lower(call.to), data: lower(call.data ?? '0x') }
  })
  return { ...decoded, calls }
}

/** What both transaction types reduce to, before the calls are checked. */
type Decoded = Omit<SignedTransaction, 'calls'> & {
  calls: readonly { to?: Address | undefined; data?: Hex | undefined; value?: bigint | undefined }[]
}

async function decodeTempo(serialized: Hex, chainId: number, recovery: RecoveryBackend): Promise<Decoded> {
  let tx: ReturnType<typeof Transaction.deserialize<`0x76${string}`>>
  let envelope: ReturnType<typeof Transaction.z_TxEnvelopeTempo.deserialize>
  let payload: Hex
  try {
    tx = Transaction.deserialize(serialized as `0x76${string}`)
    // The hash the sender signed, computed independently of `tx.from` (see below).
    envelope = Transaction.z_TxEnvelopeTempo.deserialize(serialized as `0x76${string}`)
    payload = Transaction.z_TxEnvelopeTempo.getSignPayload(envelope)
  } catch (err) {
    reject('The Tempo transaction could not be decoded.', err)
  }
  if (tx.chainId !== chainId) reject(`The transaction is for chain ${tx.chainId}; this escrow is on chain ${chainId}.`)
  if (!tx.signature) reject('The transaction is not signed.')
  // `Transaction.deserialize` takes `from` from the fee-payer slot when a
  // client left its address there for a sponsor, and from the envelope (not
  // the signature) for keychain/P256/WebAuthn signatures: only a secp256k1
  // signature recovered against the signing hash proves who the payer is.
  if (tx.signature.type !== 'secp256k1') {
    reject('Only secp256k1-signed Tempo transactions are accepted (no access-key, P256 or WebAuthn signatures).')
  }
  if (tx.feePayerSignature === null) {
    reject('This server does not sponsor fees: set feeToken and sign without the fee-payer placeholder.')
  }
  const { r, s, yParity } = tx.signature.signature
  const sender = recoverSender(recovery, payload, r, s, yParity)
  if (tx.from !== undefined && lower(tx.from) !== sender) reject('The transaction sender does not match its signature.')
  // The fields from ox's envelope: viem's `deserialize` turns the nonce into a
  // JavaScript number, which loses the random 64-bit nonces some clients send.
  return {
    type: 'tempo',
    sender,
    calls: tx.calls ?? [],
    nonce: envelope.nonce ?? 0n,
    nonceKey: envelope.nonceKey ?? 0n,
    gas: envelope.gas ?? 0n,
    maxFeePerGas: envelope.maxFeePerGas ?? 0n,
    maxPriorityFeePerGas: envelope.maxPriorityFeePerGas ?? 0n,
    feeToken: envelope.feeToken === undefined ? undefined : lower(TokenId.toAddress(envelope.feeToken)),
    validAfter: envelope.validAfter,
    validBefore: envelope.validBefore,
    accessList: envelope.accessList ?? [],
    authorizes: (envelope.authorizationList?.length ?? 0) > 0 || envelope.keyAuthorization !== undefined,
  }
}

async function decodeEip1559(serialized: Hex, chainId: number, recovery: RecoveryBackend): Promise<Decoded> {
  let tx: ReturnType<typeof parseTransaction<`0x02${string}`>>
  let payload: Hex
  try {
    tx = parseTransaction(serialized as `0x02${string}`)
    // The hash the sender signed: the transaction serialized without its signature (as viem's recoverTransactionAddress).
    payload = keccak256(serializeTransaction({ ...tx, r: undefined, s: undefined, v: undefined, yParity: undefined }))
  } catch (err) {
    reject('The EIP-1559 transaction could not be decoded.', err)
  }
  if (tx.chainId !== chainId) reject(`The transaction is for chain ${tx.chainId}; this escrow is on chain ${chainId}.`)
  if (tx.r === undefined || tx.s === undefined || tx.yParity === undefined) reject('The transaction is not signed.')
  const sender = recoverSender(recovery, payload, BigInt(tx.r), BigInt(tx.s), tx.yParity)
  return {
    type: 'eip1559',
    sender,
    calls: [{ to: tx.to ?? undefined, data: tx.data, value: tx.value }],
    nonce: BigInt(tx.nonce ?? 0),
    nonceKey: 0n,
    gas: tx.gas ?? 0n,
    maxFeePerGas: tx.maxFeePerGas ?? 0n,
    maxPriorityFeePerGas: tx.maxPriorityFeePerGas ?? 0n,
    feeToken: undefined,
    validAfter: undefined,
    validBefore: undefined,
    accessList: tx.accessList ?? [],
    authorizes: false,
  }
}

/** Canonical signatures only: r, s in [1, n) and low s, as the chain itself requires. */
function checkSignatureRange(r: bigint, s: bigint) {
  if (r <= 0n || s <= 0n || r > 2n * secp256k1HalfOrder || s > secp256k1HalfOrder) {
    reject('The transaction signature is invalid (it must be a canonical low-s secp256k1 signature).')
  }
}

/** The signer of `payload` (lowercase): canonical signatures only, then the recovery backend. */
function recoverSender(recovery: RecoveryBackend, payload: Hex, r: bigint, s: bigint, yParity: number): Address {
  checkSignatureRange(r, s)
  try {
    return recoverAddress(
      recovery,
      payload,
      serializeSignature({ r: numberToHex(r, { size: 32 }), s: numberToHex(s, { size: 32 }), yParity }),
    )
  } catch (err) {
    reject('The transaction signature is invalid.', err)
  }
}

/** Applies the call rules to the decoded calls. */
async function interpret(
  calls: readonly Call[],
  sender: Address,
  escrow: Address,
  chainId: number,
  options: DecodeOptions,
): Promise<EscrowCall> {
  const escrowCalls = calls.filter((call) => call.to === escrow)
  if (escrowCalls.length === 0) reject(`The transaction does not call the escrow ${escrow}.`)
  if (escrowCalls.length > 1) reject('The transaction must call the escrow exactly once.')
  const escrowCall = escrowCalls[0]!
  const others = calls.filter((call) => call !== escrowCall)

  let fn: ReturnType<typeof decodeFunctionData<typeof escrowAbi>>
  try {
    fn = decodeFunctionData({ abi: escrowAbi, data: escrowCall.data })
  } catch (err) {
    reject('The escrow call could not be decoded.', err)
  }

  if (fn.functionName === 'topUp') {
    const [channelIdArg, additionalDeposit] = fn.args
    const channelId = lower(channelIdArg)
    // The argument is a uint256 but deposits are uint128 on chain: the escrow
    // reverts (DepositOverflow) past that, and ZeroDeposit on 0.
    if (additionalDeposit === 0n || additionalDeposit > maxUint128) {
      reject('The topUp amount must be between 1 and 2^128-1 base units.')
    }
    if (others.length > 0) {
      // The token is the channel's, known only on chain.
      if (!options.channelToken)
        reject('A topUp transaction must contain only the escrow topUp call; approve the escrow in a separate transaction.')
      const token = await options.channelToken(channelId)
      if (token === undefined)
        throw new PaymentError('mpp_channel_not_found', 'The channel to top up does not exist on the escrow.', {
          extensions: { channelId },
        })
      checkApprove(calls, others, lower(token), escrow, 'topUp')
    }
    return { kind: 'topUp', sender, channelId, additionalDeposit }
  }
  if (fn.functionName !== 'open') reject(`The transaction calls ${fn.functionName} on the escrow; only open or topUp are accepted.`)

  const [payeeArg, tokenArg, deposit, saltArg, signerArg] = fn.args
  const payee = lower(payeeArg)
  const token = lower(tokenArg)
  const salt = lower(saltArg)
  const authorizedSigner = lower(signerArg)
  if (others.length > 0) checkApprove(calls, others, token, escrow, 'open')

  return {
    kind: 'open',
    payer: sender,
    payee,
    token,
    deposit,
    salt,
    authorizedSigner,
    channelId: computeChannelId({ payer: sender, payee, token, salt, authorizedSigner, escrow, chainId }),
  }
}

/**
 * Besides the escrow call, a transaction may carry one `approve(escrow, amount)`
 * on the channel's token, placed before it (after it, the escrow's pull would
 * fail for lack of allowance).
 */
function checkApprove(calls: readonly Call[], others: readonly Call[], token: Address, escrow: Address, fn: 'open' | 'topUp') {
  if (others.length > 1) reject(`The ${fn} transaction may contain at most one approve call besides the ${fn}.`)
  const approve = others[0]!
  if (approve.to !== token) reject(`The approve call must be on the channel token ${token}; it calls ${approve.to}.`)
  if (calls.indexOf(approve) > calls.findIndex((call) => call.to === escrow)) reject(`The approve call must come before the ${fn} call.`)
  let tokenCall: ReturnType<typeof decodeFunctionData<typeof tip20Abi>>
  try {
    tokenCall = decodeFunctionData({ abi: tip20Abi, data: approve.data })
  } catch (err) {
    reject('The call to the token must be approve(escrow, amount).', err)
  }
  if (tokenCall.functionName !== 'approve') reject(`The call to the token must be approve; it is ${tokenCall.functionName}.`)
  const spender = lower(tokenCall.args[0])
  if (spender !== escrow) reject(`The approve call must approve the escrow ${escrow}; it approves ${spender}.`)
}
