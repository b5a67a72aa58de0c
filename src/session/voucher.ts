import { type Account, type Address, type Hex, bytesToHex, hexToBytes, recoverTypedDataAddress } from 'viem'
import { PaymentError } from '../errors/payment-error.js'

/** EIP-712 types of a v1 voucher (draft-tempo-session §Voucher Signing Format). */
export const voucherTypes = {
  Voucher: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'cumulativeAmount', type: 'uint128' },
  ],
} as const

/** The v1 EIP-712 domain: bound to one escrow on one chain. */
export function voucherDomain(chainId: number, escrow: Address) {
  return { name: 'Tempo Stream Channel', version: '1', chainId, verifyingContract: escrow } as const
}

export type VoucherContext = { chainId: number; escrow: Address }
export type Voucher = { channelId: Hex; cumulativeAmount: bigint; signature: Hex }

// secp256k1 order / 2: a larger `s` is the malleable twin of a canonical signature.
const halfOrder = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n
const highBit = 1n << 255n
const invalid = (detail: string) => new PaymentError('mpp_payment_verification_failed', detail, { problemType: 'session/invalid-signature' })

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
  if (s > halfOrder) throw invalid('The voucher signature is not canonical (high s).')
  const word = (value: bigint) => value.toString(16).padStart(64, '0')
  return `0x${word(r)}${word(s)}${v.toString(16)}`
}

/** Recovers the signer of a voucher whose signature is already canonical; lowercase. */
export async function recoverVoucherSigner(context: VoucherContext, voucher: Voucher): Promise<Address> {
  try {
    const signer = await recoverTypedDataAddress({
      domain: voucherDomain(context.chainId, context.escrow),
      types: voucherTypes,
      primaryType: 'Voucher',
      message: { channelId: voucher.channelId, cumulativeAmount: voucher.cumulativeAmount },
      signature: voucher.signature,
    })
    return signer.toLowerCase() as Address
  } catch (cause) {
    throw new PaymentError('mpp_payment_verification_failed', 'The voucher signature could not be recovered.', { cause, problemType: 'session/invalid-signature' })
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
