import { type Account, type Address, bytesToHex, concat, type Hex, hashDomain, hashStruct, hexToBytes, keccak256 } from 'viem'
import { Secp256k1 } from 'viem/tempo'
import { PaymentError } from '../../errors/payment-error.js'
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

const signatureShape = /^0x[0-9a-fA-F]{130}$/

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
  const struct = hashStruct({
    data: { channelId: voucher.channelId, cumulativeAmount: voucher.cumulativeAmount },
    primaryType: 'Voucher',
    types: voucherTypes,
  })
  return keccak256(concat(['0x1901', separator, struct]))
}

/**
 * Recovers the signer of a voucher whose signature is already canonical; lowercase.
 *
 * Exactly what viem's `recoverTypedDataAddress` computes (EIP-712 digest, then
 * @noble/curves' compact-signature recovery, then keccak of the public key),
 * with the curve reached through a static import (`Secp256k1.noble` of
 * `viem/tempo`): viem's `recoverPublicKey` runs `await import('@noble/curves/secp256k1')`
 * on every call, and under a loader with off-thread hooks (tsx on Node 20, how
 * `src/node.ts` runs) each such import is a round trip to the loader thread,
 * which added 27–46% to a recovery on the 2-core bench machine (`npm run bench`,
 * rows 1 and 1b). The bytes recovered are the same.
 */
export async function recoverVoucherSigner(context: VoucherContext, voucher: Voucher): Promise<Address> {
  try {
    const digest = voucherDigest(context, voucher)
    const { signature } = voucher
    if (!signatureShape.test(signature)) throw new Error('invalid signature length')
    const v = Number.parseInt(signature.slice(130), 16)
    // As viem reads the recovery byte: 27/28, or a bare y-parity 0/1.
    const recoveryBit = v === 27 || v === 28 ? v - 27 : v === 0 || v === 1 ? v : undefined
    if (recoveryBit === undefined) throw new Error('invalid signature recovery byte')
    const publicKey = Secp256k1.noble.Signature.fromCompact(signature.slice(2, 130))
      .addRecoveryBit(recoveryBit)
      .recoverPublicKey(digest.slice(2))
      .toHex(false)
    // The address: the last 20 bytes of keccak256 of the uncompressed key without its 0x04 prefix.
    return `0x${keccak256(`0x${publicKey.slice(2)}`).slice(26)}` as Address
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
