import type { Address, Hex } from 'viem'
import type { RecoveryBackend } from './backend.js'
import { checkSignature } from './signature.js'

/**
 * The signer of `digest` (lowercase address): the byte checks, then the
 * backend. Throws `InvalidSignatureError` before the backend is asked, or the
 * backend's `UnrecoverableSignatureError`.
 */
export function recoverAddress(backend: RecoveryBackend, digest: Hex, signature: Hex): Address {
  return backend.recover(checkSignature(digest, signature))
}
