// The one error type of the v2 derivations. Callers branch on `code`, never on
// the message; the engine maps codes to the wire's error table. Messages never
// quote a signature or a transaction.

export const sessionV2ErrorCodes = [
  /** An amount is negative, above 2^96 − 1, or not a canonical decimal string. */
  'amount_out_of_range',
  /** Not hex, wrong length, unknown type byte, or an encoding TIP-1020 rejects (64-byte compact, magic suffix). */
  'signature_malformed',
  /** A secp256k1 signature that is not canonical: high s, v not in {0, 1, 27, 28}, r or s out of range. */
  'signature_not_canonical',
  /** A valid TIP-1020 type this implementation does not verify (P256, WebAuthn). */
  'signature_type_unsupported',
  /** A type TIP-1034 refuses for vouchers: keychain wrappers (0x03/0x04), configurable multisig (0x05). */
  'signature_type_rejected',
  /** The signature does not recover to a key (secp256k1 recovery failed). */
  'signature_invalid',
  /** Not a Tempo `0x76` or EIP-1559 transaction, or signed with a scheme whose sender cannot be recovered offline. */
  'transaction_unsupported',
  /** The transaction does not decode, is unsigned, or is too large. */
  'transaction_malformed',
] as const

export type SessionV2ErrorCode = (typeof sessionV2ErrorCodes)[number]

export class SessionV2Error extends Error {
  override name = 'SessionV2Error'
  readonly code: SessionV2ErrorCode

  constructor(code: SessionV2ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.code = code
  }
}
