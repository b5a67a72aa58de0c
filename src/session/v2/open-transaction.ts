// The sender and `expiringNonceHash` of a signed channel-open transaction.
//
// TIP-1034 derives a v2 channel id from the transaction that opens it:
//   expiringNonceHash = keccak256(encodeForSigning(tx) ‖ sender)
// where encodeForSigning is the exact payload whose hash the sender signed.
// For Tempo `0x76` transactions that is ox's TxEnvelopeTempo.encodeForSigning:
// it leaves out the sender signature, and a fee payer's signature and chosen
// fee token, so a sponsor's co-signature does not change the hash: a 0x76 that
// still carries the fee-payer placeholder (what a client hands a sponsoring
// server) hashes as the co-signed transaction will. For EIP-1559 transactions
// it is the unsigned serialization.
//
// The sender is recovered from the signature over that payload. A decoded
// `from` is never used: ox fills it from the fee-payer slot, which the client
// writes. Only secp256k1 senders are recovered; keychain, P256 and WebAuthn
// senders are refused (their address comes from the envelope or needs the
// node's key registry).
import { Secp256k1 } from 'ox'
import { TxEnvelopeTempo } from 'ox/tempo'
import { type Address, concat, type Hex, hexToBigInt, keccak256, parseTransaction, serializeTransaction } from 'viem'
import { SessionV2Error } from './errors.js'
import { assertCanonicalSecp256k1 } from './signature.js'

export type TransactionCall = {
  /** Lowercase; undefined for a contract creation. */
  to: Address | undefined
  data: Hex
  value: bigint
}

export type SignedTransaction = {
  type: 'tempo' | 'eip1559'
  chainId: number
  /** Recovered from the signature, lowercase. */
  sender: Address
  expiringNonceHash: Hex
  calls: readonly TransactionCall[]
}

/** Checked before decoding, so a client cannot make the server RLP-decode megabytes (an open is about 400 bytes). */
export const maxTransactionBytes = 16 * 1024

const malformed = (message: string, cause?: unknown) => new SessionV2Error('transaction_malformed', message, { cause })

/** Decodes a signed Tempo `0x76` or EIP-1559 transaction into its recovered sender, `expiringNonceHash` and calls. */
export function decodeSignedTransaction(raw: string): SignedTransaction {
  if (!/^0x(?:[0-9a-fA-F]{2})+$/.test(raw)) throw malformed('The transaction must be 0x-prefixed hex of whole bytes.')
  if ((raw.length - 2) / 2 > maxTransactionBytes) throw malformed(`The transaction exceeds ${maxTransactionBytes} bytes.`)
  const hex = raw.toLowerCase() as Hex
  const prefix = hex.slice(0, 4)
  if (prefix === '0x76') return decodeTempo(hex as TxEnvelopeTempo.Serialized)
  if (prefix === '0x02') return decodeEip1559(hex as `0x02${string}`)
  throw new SessionV2Error('transaction_unsupported', 'Only Tempo (0x76) and EIP-1559 (0x02) transactions are accepted.')
}

function decodeTempo(raw: TxEnvelopeTempo.Serialized): SignedTransaction {
  let envelope: TxEnvelopeTempo.TxEnvelopeTempo
  try {
    envelope = TxEnvelopeTempo.deserialize(raw)
  } catch (cause) {
    throw malformed('The Tempo transaction does not decode.', cause)
  }
  const signature = envelope.signature
  if (signature === undefined) throw malformed('The transaction is not signed.')
  if (signature.type !== 'secp256k1') {
    throw new SessionV2Error('transaction_unsupported', `The sender of a ${signature.type}-signed transaction cannot be recovered here.`)
  }
  const signingPayload = TxEnvelopeTempo.encodeForSigning(envelope)
  const sender = recoverSender(signingPayload, signature.signature)
  return {
    type: 'tempo',
    chainId: envelope.chainId,
    sender,
    expiringNonceHash: keccak256(concat([signingPayload, sender])),
    calls: envelope.calls.map((call) => ({
      to: call.to === undefined ? undefined : (call.to.toLowerCase() as Address),
      data: (call.data ?? '0x').toLowerCase() as Hex,
      value: call.value ?? 0n,
    })),
  }
}

function decodeEip1559(raw: `0x02${string}`): SignedTransaction {
  let parsed: ReturnType<typeof parseTransaction<`0x02${string}`>>
  try {
    parsed = parseTransaction(raw)
  } catch (cause) {
    throw malformed('The EIP-1559 transaction does not decode.', cause)
  }
  const { r, s, yParity, v: _v, ...unsigned } = parsed
  if (r === undefined || s === undefined || yParity === undefined) throw malformed('The transaction is not signed.')
  const signingPayload = serializeTransaction(unsigned)
  const sender = recoverSender(signingPayload, { r: hexToBigInt(r), s: hexToBigInt(s), yParity })
  return {
    type: 'eip1559',
    chainId: parsed.chainId,
    sender,
    expiringNonceHash: keccak256(concat([signingPayload, sender])),
    calls: [
      { to: parsed.to?.toLowerCase() as Address | undefined, data: (parsed.data ?? '0x').toLowerCase() as Hex, value: parsed.value ?? 0n },
    ],
  }
}

function recoverSender(signingPayload: Hex, signature: { r: bigint; s: bigint; yParity: number }): Address {
  assertCanonicalSecp256k1(signature.r, signature.s)
  try {
    return Secp256k1.recoverAddress({ payload: keccak256(signingPayload), signature }).toLowerCase() as Address
  } catch (cause) {
    throw new SessionV2Error('signature_invalid', 'The transaction signature does not recover to a key.', { cause })
  }
}
