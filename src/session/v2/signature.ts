// Voucher signature envelopes (TIP-1020, as TIP-1034 verifies vouchers):
//   65 bytes, no prefix        secp256k1 r ‖ s ‖ v, v in {0, 1, 27, 28}, low s
//   0x01 ‖ 129 bytes           P256 (r, s, x, y, prehash)
//   0x02 ‖ 128–2048 bytes      WebAuthn (data, r, s, x, y)
//   0x03 / 0x04 ‖ address ‖ …  keychain wrappers: TIP-1034 rejects them for vouchers
//   anything else              rejected (0x05 configurable multisig, 64-byte compact,
//                              ox's 32-byte magic suffix: TIP-1020 knows none of them)
// Only secp256k1 is accepted here. P256 and WebAuthn are valid on chain but
// refused with their own code: verifying them as the node does (WebAuthn
// client data and flags included) is not implemented.
import { type Hex, hexToBigInt } from 'viem'
import { SessionV2Error } from './errors.js'

export type Secp256k1VoucherSignature = {
  type: 'secp256k1'
  r: bigint
  s: bigint
  yParity: 0 | 1
  /** The signature as given, lowercase. */
  signature: Hex
}

const secp256k1N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const secp256k1HalfN = secp256k1N >> 1n

const webAuthnMinBytes = 129
const webAuthnMaxBytes = 2049

const malformed = (message: string) => new SessionV2Error('signature_malformed', message)

/**
 * Classifies a voucher signature and returns its secp256k1 parts; throws a
 * `SessionV2Error` for every other encoding. Byte checks only (no ECDSA), so a
 * malformed signature costs nothing.
 */
export function parseVoucherSignature(signature: string): Secp256k1VoucherSignature {
  if (!/^0x(?:[0-9a-fA-F]{2})+$/.test(signature)) throw malformed('The signature must be 0x-prefixed hex of whole bytes.')
  const hex = signature.toLowerCase() as Hex
  const length = (hex.length - 2) / 2
  if (length === 65) return parseSecp256k1(hex)
  if (length === 64) throw malformed('64-byte compact (EIP-2098) signatures are not accepted by TIP-1020: send 65 bytes r‖s‖v.')

  const typeByte = hex.slice(2, 4)
  if (typeByte === '01') {
    if (length !== 130) throw malformed('A P256 signature is 130 bytes.')
    throw new SessionV2Error('signature_type_unsupported', 'P256 voucher signatures are not supported here; sign with secp256k1.')
  }
  if (typeByte === '02') {
    if (length < webAuthnMinBytes || length > webAuthnMaxBytes) throw malformed('A WebAuthn signature is 129 to 2049 bytes.')
    throw new SessionV2Error('signature_type_unsupported', 'WebAuthn voucher signatures are not supported here; sign with secp256k1.')
  }
  if (typeByte === '03' || typeByte === '04') {
    throw new SessionV2Error('signature_type_rejected', 'Keychain (access key) signatures cannot sign vouchers: use authorizedSigner.')
  }
  if (typeByte === '05') {
    throw new SessionV2Error('signature_type_rejected', 'Configurable (multisig) account signatures cannot sign vouchers.')
  }
  throw malformed('Unknown signature encoding.')
}

function parseSecp256k1(hex: Hex): Secp256k1VoucherSignature {
  const r = hexToBigInt(`0x${hex.slice(2, 66)}`)
  const s = hexToBigInt(`0x${hex.slice(66, 130)}`)
  const v = Number.parseInt(hex.slice(130), 16)
  const yParity = v === 0 || v === 27 ? 0 : v === 1 || v === 28 ? 1 : undefined
  if (yParity === undefined) throw new SessionV2Error('signature_not_canonical', 'The signature v must be 0, 1, 27 or 28.')
  assertCanonicalSecp256k1(r, s)
  return { type: 'secp256k1', r, s, yParity, signature: hex }
}

/** r and s in [1, n) and s ≤ n/2, as TIP-1020 and Tempo transaction validation require; throws `signature_not_canonical`. */
export function assertCanonicalSecp256k1(r: bigint, s: bigint): void {
  if (r === 0n || r >= secp256k1N || s === 0n) {
    throw new SessionV2Error('signature_not_canonical', 'The signature r or s is out of range.')
  }
  if (s > secp256k1HalfN) throw new SessionV2Error('signature_not_canonical', 'The signature is not canonical (high s).')
}
