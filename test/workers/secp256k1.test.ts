// The recovery backends inside workerd, without nodejs_compat: the WebAssembly
// module arrives as a compiled-module import (src/secp256k1/wasm-module-workerd.ts,
// chosen by the `workerd` condition of package.json's `#secp256k1/runtime` import).
import { describe, expect, it } from 'vitest'
import { BackendUnavailableError, recoverAddress, selectRecoveryBackend } from '../../src/secp256k1/index.js'
import { publicVectors } from '../secp256k1/vectors.js'

describe('secp256k1 recovery in workerd', () => {
  it('selects the WebAssembly backend and recovers the public vectors with it and with noble', () => {
    const { backend, skipped } = selectRecoveryBackend()
    expect(backend.name).toBe('wasm')
    expect(skipped).toEqual([])
    for (const name of ['wasm', 'noble']) {
      const named = selectRecoveryBackend(name).backend
      expect(named.name).toBe(name)
      for (const vector of publicVectors) expect(recoverAddress(named, vector.digest, vector.signature)).toBe(vector.address)
    }
  })

  it('refuses the native backend: there is no N-API addon in workerd', () => {
    expect(() => selectRecoveryBackend('native')).toThrow(BackendUnavailableError)
  })
})
