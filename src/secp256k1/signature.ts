import { hexToBytes } from '@noble/hashes/utils.js'
import type { Hex } from 'viem'
import { InvalidSignatureError } from './errors.js'

/** The order of the secp256k1 group. */
export const curveOrder = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
/** ⌊n/2⌋: a larger s is the malleable twin (n − s) of a low-s signature. */
export const halfCurveOrder = curveOrder >> 1n

declare const checked: unique symbol

/**
 * A recovery input that passed `checkSignature`: the only input a backend
 * accepts (the brand keeps unchecked objects out at compile time).
 */
export type CanonicalSignature = {
  /** The 32-byte message digest. */
  readonly digest: Uint8Array
  /** r‖s, 64 bytes. */
  readonly compact: Uint8Array
  /** 0 < r < n. */
  readonly r: bigint
  /** 0 < s ≤ n/2. */
  readonly s: bigint
  readonly recoveryBit: 0 | 1
  readonly [checked]: true
}

const digestShape = /^0x[0-9a-fA-F]{64}$/
const signatureShape = /^0x[0-9a-fA-F]{130}$/

/**
 * The byte checks every recovery passes first, pure and cheap, so a malformed
 * signature costs no curve arithmetic and every backend sees the same
 * canonical input: a 32-byte digest; a 65-byte r‖s‖v signature with
 * 0 < r < n, 0 < s ≤ n/2 and v one of 27, 28 or a bare y-parity 0, 1 (as viem
 * reads it). Throws `InvalidSignatureError`.
 */
export function checkSignature(digest: Hex, signature: Hex): CanonicalSignature {
  if (!digestShape.test(digest)) throw new InvalidSignatureError('digest-format')
  if (!signatureShape.test(signature)) throw new InvalidSignatureError('signature-format')
  const v = Number.parseInt(signature.slice(130), 16)
  const recoveryBit = v === 0 || v === 27 ? 0 : v === 1 || v === 28 ? 1 : undefined
  if (recoveryBit === undefined) throw new InvalidSignatureError('recovery-byte')
  const r = BigInt(`0x${signature.slice(2, 66)}`)
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  if (r === 0n) throw new InvalidSignatureError('r-zero')
  if (r >= curveOrder) throw new InvalidSignatureError('r-range')
  if (s === 0n) throw new InvalidSignatureError('s-zero')
  if (s >= curveOrder) throw new InvalidSignatureError('s-range')
  if (s > halfCurveOrder) throw new InvalidSignatureError('high-s')
  return {
    digest: hexToBytes(digest.slice(2)),
    compact: hexToBytes(signature.slice(2, 130)),
    r,
    s,
    recoveryBit,
  } as CanonicalSignature
}
