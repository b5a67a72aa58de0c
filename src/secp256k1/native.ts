import { createRequire } from 'node:module'
import { addressOfPublicKey } from './address.js'
import type { RecoveryBackend } from './backend.js'
import { BackendUnavailableError, UnrecoverableSignatureError } from './errors.js'

/** The part of the `secp256k1` package's API this backend calls. */
export type NativeBindings = {
  ecdsaRecover(signature: Uint8Array, recoveryId: number, digest: Uint8Array, compressed: boolean): Uint8Array
}

/**
 * `secp256k1/bindings`, not the package's main entry: the main entry quietly
 * falls back to the pure-JavaScript `elliptic` when the addon does not load,
 * which would run under the name "native" at a fraction of its speed. The
 * addon is the package's prebuilt N-API binary (prebuilds/linux-x64/…), found
 * by node-gyp-build without a build step; elsewhere, or on a platform without
 * a prebuild, requiring it throws.
 */
const requireBindings = (): unknown => createRequire(import.meta.url)('secp256k1/bindings')

/** libsecp256k1 through N-API, Node only; `BackendUnavailableError` when the addon does not load. */
export function loadNativeBackend(load: () => unknown = requireBindings): RecoveryBackend {
  let bindings: unknown
  try {
    bindings = load()
  } catch (cause) {
    throw new BackendUnavailableError('native', 'the secp256k1 addon did not load', { cause })
  }
  if (typeof (bindings as Partial<NativeBindings> | undefined)?.ecdsaRecover !== 'function') {
    throw new BackendUnavailableError('native', 'the secp256k1 addon has no ecdsaRecover')
  }
  return nativeBackend(bindings as NativeBindings)
}

function nativeBackend(bindings: NativeBindings): RecoveryBackend {
  return {
    name: 'native',
    recover(input) {
      let publicKey: Uint8Array
      try {
        publicKey = bindings.ecdsaRecover(input.compact, input.recoveryBit, input.digest, false)
      } catch (cause) {
        // libsecp256k1 refuses a canonical input only when no point follows from it.
        throw new UnrecoverableSignatureError('native', { cause })
      }
      return addressOfPublicKey(publicKey)
    },
  }
}
