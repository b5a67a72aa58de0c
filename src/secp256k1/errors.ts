import type { BackendName } from './backend.js'

/** Why a signature was refused before any curve arithmetic. */
export type InvalidSignatureReason =
  /** The digest is not 32 bytes of 0x-prefixed hex. */
  | 'digest-format'
  /** The signature is not 65 bytes (r‖s‖v) of 0x-prefixed hex. */
  | 'signature-format'
  /** The last byte is none of 0, 1, 27, 28. */
  | 'recovery-byte'
  | 'r-zero'
  /** r ≥ n, the group order. */
  | 'r-range'
  | 's-zero'
  /** s ≥ n, the group order. */
  | 's-range'
  /** n/2 < s < n: the malleable twin of a low-s signature. */
  | 'high-s'

/** The signature or digest failed the byte checks (`checkSignature`): no backend was asked. */
export class InvalidSignatureError extends Error {
  override name = 'InvalidSignatureError'
  readonly reason: InvalidSignatureReason

  constructor(reason: InvalidSignatureReason) {
    super(`invalid secp256k1 signature: ${reason}`)
    this.reason = reason
  }
}

/**
 * A canonical signature from which no public key follows: r is not the
 * x-coordinate of a curve point, or the recovered point is at infinity.
 */
export class UnrecoverableSignatureError extends Error {
  override name = 'UnrecoverableSignatureError'
  readonly backend: BackendName

  constructor(backend: BackendName, options: { cause?: unknown } = {}) {
    super(`no public key recovers from this signature (${backend})`, options)
    this.backend = backend
  }
}

/** A backend name that is not one of `backendNames` (e.g. a mistyped SECP256K1_BACKEND). */
export class UnknownBackendError extends Error {
  override name = 'UnknownBackendError'
  readonly value: string

  constructor(value: string, known: readonly string[]) {
    super(`unknown secp256k1 backend ${JSON.stringify(value)}: expected one of ${known.join(', ')}`)
    this.value = value
  }
}

/** The backend cannot run here: not built for this runtime, or its library failed to load (`cause`). */
export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError'
  readonly backend: BackendName

  constructor(backend: BackendName, detail: string, options: { cause?: unknown } = {}) {
    super(`secp256k1 backend ${backend} is unavailable: ${detail}`, options)
    this.backend = backend
  }
}
