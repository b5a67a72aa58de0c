import { TypedData } from 'ox'
import {
  type Account,
  type Address,
  bytesToHex,
  concat,
  encodeAbiParameters,
  type Hex,
  hashDomain,
  hexToBytes,
  keccak256,
  stringToHex,
} from 'viem'
import { PaymentError } from '../../errors/payment-error.js'
import type { RecoveryBackend } from '../../secp256k1/backend.js'
import { recoverAddress } from '../../secp256k1/recover.js'
import { secp256k1HalfOrder } from '../../util/secp256k1.js'

/** EIP-712 types of a v1 voucher (draft-tempo-session §Voucher Signing Format). */
export const voucherTypes = {
  Voucher: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'cumulativeAmount', type: 'uint128' },
  ],
} as const

/** The v1 EIP-712 domain: bound to one escrow on one chain. */
export function voucherDomain(chainId: number, escrow: Address) {
  // Lowercase: viem refuses a mixed-case address whose EIP-55 checksum is wrong, and the spec accepts mixed case.
  return { name: 'Tempo Stream Channel', version: '1', chainId, verifyingContract: escrow.toLowerCase() as Address } as const
}

export type VoucherContext = { chainId: number; escrow: Address }
export type Voucher = { channelId: Hex; cumulativeAmount: bigint; signature: Hex }

const highBit = 1n << 255n
const invalid = (detail: string) =>
  new PaymentError('mpp_payment_verification_failed', detail, { problemType: 'session/invalid-signature' })

/**
 * The canonical 65-byte `r‖s‖v` form of a voucher signature, accepting exactly
 * what the escrow accepts: 65 bytes with `v` 27 or 28, or 64-byte EIP-2098
 * compact; low-s only. Pure byte checks, no ECDSA: callers run it before any
 * recovery so malformed signatures cost nothing.
 */
export function canonicalSignature(signature: Hex): Hex {
  if (!/^0x[0-9a-fA-F]*$/.test(signature)) throw invalid('The voucher signature is not hex.')
  const bytes = hexToBytes(signature)
  let r: bigint
  let s: bigint
  let v: number
  if (bytes.length === 65) {
    r = BigInt(bytesToHex(bytes.subarray(0, 32)))
    s = BigInt(bytesToHex(bytes.subarray(32, 64)))
    v = bytes[64]!
  } else if (bytes.length === 64) {
    r = BigInt(bytesToHex(bytes.subarray(0, 32)))
    const yParityAndS = BigInt(bytesToHex(bytes.subarray(32, 64)))
    s = yParityAndS & (highBit - 1n)
    v = yParityAndS & highBit ? 28 : 27
  } else {
    throw invalid('The voucher signature must be 65 bytes (r‖s‖v) or 64 bytes (EIP-2098).')
  }
  if (v !== 27 && v !== 28) throw invalid('The voucher signature v must be 27 or 28.')
  if (r === 0n || s === 0n) throw invalid('The voucher signature is not a valid ECDSA signature.')
  if (s > secp256k1HalfOrder) throw invalid('The voucher signature is not canonical (high s).')
  const word = (value: bigint) => value.toString(16).padStart(64, '0')
  return `0x${word(r)}${word(s)}${v.toString(16)}`
}

// The domain separator is fixed per escrow and chain: hashed once, not per
// voucher (viem's hashTypedData re-derives and re-validates the domain on every
// call, about 80 µs of a recovery here).
const domainTypes = {
  EIP712Domain: [
    { name: 'name', type: 'string' },
    { name: 'version', type: 'string' },
    { name: 'chainId', type: 'uint256' },
    { name: 'verifyingContract', type: 'address' },
  ],
} as const
const domainSeparators = new Map<string, Hex>()

// hashStruct(voucher) is keccak256(typeHash ‖ channelId ‖ cumulativeAmount), each ABI-encoded in a word (EIP-712
// encodeData; both fields are atomic). The type hash is fixed: hashed once (viem's hashStruct re-encodes and
// re-hashes the type on every call: a third of the digest's cost). encodeAbiParameters still refuses a channel id
// that is not 32 bytes and an amount outside uint128.
const voucherTypeHash = keccak256(stringToHex(TypedData.encodeType({ primaryType: 'Voucher', types: voucherTypes })))
const structLayout = [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint128' }] as const

/** The EIP-712 digest of a voucher: `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(voucher))`, as viem's `hashTypedData`. */
export function voucherDigest(context: VoucherContext, voucher: { channelId: Hex; cumulativeAmount: bigint }): Hex {
  const key = `${context.chainId}:${context.escrow.toLowerCase()}`
  let separator = domainSeparators.get(key)
  if (separator === undefined) {
    separator = hashDomain({
      domain: { ...voucherDomain(context.chainId, context.escrow), chainId: BigInt(context.chainId) },
      types: domainTypes,
    })
    domainSeparators.set(key, separator)
  }
  const struct = keccak256(encodeAbiParameters(structLayout, [voucherTypeHash, voucher.channelId, voucher.cumulativeAmount]))
  return keccak256(concat(['0x1901', separator, struct]))
}

/**
 * The signer of a voucher (lowercase), recovered by `backend` (src/secp256k1/:
 * libsecp256k1 natively or as WebAssembly, or noble): the EIP-712 digest with
 * its cached domain separator, then `recoverAddress`, whose byte checks refuse
 * a zero, out-of-range or high s, a zero or out-of-range r and a recovery byte
 * other than 27, 28, 0 or 1 before the backend is asked. The same address as
 * viem's `recoverTypedDataAddress` (test/session/voucher-backends.test.ts).
 */
export function recoverVoucherSigner(context: VoucherContext, voucher: Voucher, backend: RecoveryBackend): Address {
  try {
    return recoverAddress(backend, voucherDigest(context, voucher), voucher.signature)
  } catch (cause) {
    throw new PaymentError('mpp_payment_verification_failed', 'The voucher signature could not be recovered.', {
      cause,
      problemType: 'session/invalid-signature',
    })
  }
}

/** Signs a voucher with a local account (the payer or its authorized signer). */
export async function signVoucher(account: Account, context: VoucherContext, voucher: Omit<Voucher, 'signature'>): Promise<Hex> {
  if (account.signTypedData === undefined) throw new Error('signVoucher needs a local account that can sign typed data')
  const signature = await account.signTypedData({
    domain: voucherDomain(context.chainId, context.escrow),
    types: voucherTypes,
    primaryType: 'Voucher',
    message: { channelId: voucher.channelId, cumulativeAmount: voucher.cumulativeAmount },
  })
  return canonicalSignature(signature)
}
