import { addressOfPublicKey } from './address.js'
import type { RecoveryBackend } from './backend.js'
import { BackendUnavailableError, UnrecoverableSignatureError } from './errors.js'

/**
 * The exports of tiny-secp256k1 2.2.4's lib/secp256k1.wasm (libsecp256k1 in
 * Rust, compiled to WebAssembly) that a recovery uses: fixed input and output
 * buffers in its memory, and `recover(outputLength, recoveryId)` returning 1
 * on success, 0 when no public key follows. The package's own JavaScript
 * cannot load it in workerd, so this backend drives the binary directly.
 */
type TinySecp256k1Exports = {
  memory: WebAssembly.Memory
  initializeContext(): void
  recover(outputLength: number, recoveryId: number): number
  HASH_INPUT: WebAssembly.Global
  SIGNATURE_INPUT: WebAssembly.Global
  PUBLIC_KEY_INPUT: WebAssembly.Global
}

/** An error code the binary raised through its `throwError` import (its validate_error.js numbering). */
class TinySecp256k1Error extends Error {
  override name = 'TinySecp256k1Error'
  readonly code: number

  constructor(code: number) {
    super(`tiny-secp256k1 error code ${code}`)
    this.code = code
  }
}

// The module's two imports, named after the package's JavaScript files that provide them there.
const imports = {
  './rand.js': {
    // The seed of the context's blinding, which protects secret keys in signing and key generation only:
    // recovery handles public data, and this instance only recovers. A constant, because a Worker may
    // not draw random values in its global scope, where the gateway may well select its backend.
    generateInt32: () => 0,
  },
  './validate_error.js': {
    throwError: (code: number) => {
      throw new TinySecp256k1Error(code)
    },
  },
}

const uncompressedLength = 65

function instantiate(module: WebAssembly.Module): TinySecp256k1Exports {
  const wasm = new WebAssembly.Instance(module, imports).exports as unknown as TinySecp256k1Exports
  wasm.initializeContext()
  return wasm
}

/** libsecp256k1 as WebAssembly, from the compiled tiny-secp256k1 module (how each runtime gets it: wasm-module-*.ts). */
export function wasmBackend(module: WebAssembly.Module): RecoveryBackend {
  let wasm = instantiate(module)
  // A fresh view per call: a view into memory.buffer would be detached if the memory ever grew.
  const buffer = (global: WebAssembly.Global, length: number) => new Uint8Array(wasm.memory.buffer, global.value as number, length)
  return {
    name: 'wasm',
    recover(input) {
      buffer(wasm.HASH_INPUT, 32).set(input.digest)
      buffer(wasm.SIGNATURE_INPUT, 64).set(input.compact)
      let recovered: number
      try {
        recovered = wasm.recover(uncompressedLength, input.recoveryBit)
      } catch (cause) {
        // Canonical input never gets here (the binary throws for an unparsable r‖s and traps for a recovery id
        // outside 0–3). Unwinding out of the module leaves its shadow-stack pointer lowered, and a few thousand
        // such exits break the instance for good: a fresh one (milliseconds) replaces it.
        wasm = instantiate(module)
        throw new UnrecoverableSignatureError('wasm', { cause })
      }
      if (recovered !== 1) throw new UnrecoverableSignatureError('wasm')
      return addressOfPublicKey(buffer(wasm.PUBLIC_KEY_INPUT, uncompressedLength).slice())
    },
  }
}

/** `wasmBackend` of the module `loadModule` returns; `BackendUnavailableError` when either step fails. */
export function loadWasmBackend(loadModule: () => WebAssembly.Module): RecoveryBackend {
  try {
    return wasmBackend(loadModule())
  } catch (cause) {
    throw new BackendUnavailableError('wasm', 'the tiny-secp256k1 module did not load', { cause })
  }
}
