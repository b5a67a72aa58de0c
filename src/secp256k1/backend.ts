import type { Address } from 'viem'
import { UnknownBackendError } from './errors.js'
import type { CanonicalSignature } from './signature.js'

/** The implementations, fastest first where each runs: libsecp256k1 via N-API, libsecp256k1 as WebAssembly, @noble/curves. */
export const backendNames = ['native', 'wasm', 'noble'] as const
export type BackendName = (typeof backendNames)[number]

/**
 * One secp256k1 public-key recovery implementation. It sees only input that
 * passed `checkSignature`, so it never decides what is canonical; it throws
 * `UnrecoverableSignatureError` when no public key follows from the input.
 */
export interface RecoveryBackend {
  readonly name: BackendName
  /** The signer's address, lowercase hex. */
  recover(input: CanonicalSignature): Address
}

/** A backend name from configuration (e.g. SECP256K1_BACKEND), or `UnknownBackendError`. */
export function parseBackendName(value: string): BackendName {
  const name = backendNames.find((known) => known === value)
  if (name === undefined) throw new UnknownBackendError(value, backendNames)
  return name
}
