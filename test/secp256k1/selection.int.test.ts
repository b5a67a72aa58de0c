// Choosing the backend: the fastest that loads, a named one or a clear error,
// and a fall-back (never a crash) when a library does not load.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import type { BackendCandidate } from '../../src/secp256k1/candidates.js'
import { BackendUnavailableError, UnknownBackendError } from '../../src/secp256k1/errors.js'
import { loadNativeBackend } from '../../src/secp256k1/native.js'
import { nobleBackend } from '../../src/secp256k1/noble.js'
import { recoverAddress } from '../../src/secp256k1/recover.js'
import { chooseBackend, selectRecoveryBackend } from '../../src/secp256k1/select.js'
import { loadWasmBackend } from '../../src/secp256k1/wasm.js'
import { loadWasmModule } from '../../src/secp256k1/wasm-module-node.js'
import { publicVectors } from './vectors.js'

const vector = publicVectors[0]!
// What node-gyp-build throws where the package ships no prebuilt addon and none was built.
const noAddon = () => {
  throw new Error('No native build was found for platform=linux arch=x64 runtime=node abi=115 uv=1 libc=glibc node=20.20.2')
}
const native: BackendCandidate = { name: 'native', load: () => loadNativeBackend() }
const wasm: BackendCandidate = { name: 'wasm', load: () => loadWasmBackend(loadWasmModule) }
const nativeWithoutAddon: BackendCandidate = { name: 'native', load: () => loadNativeBackend(noAddon) }
const wasmWithoutModule: BackendCandidate = {
  name: 'wasm',
  load: () => loadWasmBackend(() => new WebAssembly.Module(new Uint8Array([0, 0x61, 0x73, 0x6d]))),
}

function thrown(run: () => unknown): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
  throw new Error('expected an error')
}

describe('selectRecoveryBackend on Node', () => {
  it('takes native, the addon shipped prebuilt in the secp256k1 package, loaded without a build step', () => {
    const { backend, skipped } = selectRecoveryBackend()
    expect(backend.name).toBe('native')
    expect(skipped).toEqual([])
    const loaded = Object.keys(createRequire(import.meta.url).cache)
    expect(loaded.some((file) => /node_modules\/secp256k1\/prebuilds\/linux-x64\/secp256k1\.(glibc|musl)\.node$/.test(file))).toBe(true)
    // The main entry's pure-JavaScript fall-back was not what loaded.
    expect(loaded.some((file) => file.includes('node_modules/secp256k1/lib/elliptic.js'))).toBe(false)
  })

  it('falls back to wasm, without a crash, where the package has no prebuilt addon for the platform', () => {
    // node-gyp-build looks for prebuilds/<npm_config_arch>: there is none for riscv64, and nothing was built.
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/secp256k1/print-selection.ts'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, npm_config_arch: 'riscv64' },
    })
    expect(child.status, child.stderr).toBe(0)
    const selection = JSON.parse(child.stdout) as { backend: string; skipped: { backend: string; cause: string }[] }
    expect(selection.backend).toBe('wasm')
    expect(selection.skipped).toEqual([
      { backend: 'native', cause: expect.stringMatching(/^No native build was found for .*arch=riscv64/) },
    ])
  })

  it('gives each named backend, and the same one on every call', () => {
    for (const name of ['native', 'wasm', 'noble']) {
      const { backend } = selectRecoveryBackend(name)
      expect(backend.name).toBe(name)
      expect(selectRecoveryBackend(name).backend).toBe(backend)
    }
    expect(selectRecoveryBackend('').backend).toBe(selectRecoveryBackend().backend)
  })

  it('refuses a name that is no backend, with the known names', () => {
    for (const value of ['NATIVE', 'libsecp256k1', ' wasm']) {
      const error = thrown(() => selectRecoveryBackend(value))
      expect(error).toBeInstanceOf(UnknownBackendError)
      expect((error as UnknownBackendError).value).toBe(value)
    }
  })
})

describe('chooseBackend', () => {
  it('takes the first candidate that loads, fastest first', () => {
    expect(chooseBackend([native, wasm]).backend.name).toBe('native')
    expect(chooseBackend([wasm]).backend.name).toBe('wasm')
    expect(chooseBackend([]).backend).toBe(nobleBackend)
  })

  it('falls back past a native addon that does not load, and says why', () => {
    const { backend, skipped } = chooseBackend([nativeWithoutAddon, wasm])
    expect(backend.name).toBe('wasm')
    expect(recoverAddress(backend, vector.digest, vector.signature)).toBe(vector.address)
    expect(skipped).toHaveLength(1)
    expect(skipped[0]).toBeInstanceOf(BackendUnavailableError)
    expect(skipped[0]!.backend).toBe('native')
    expect((skipped[0]!.cause as Error).message).toMatch(/^No native build was found/)
  })

  it('falls back to noble when neither library loads', () => {
    const { backend, skipped } = chooseBackend([nativeWithoutAddon, wasmWithoutModule])
    expect(backend).toBe(nobleBackend)
    expect(skipped.map((error) => error.backend)).toEqual(['native', 'wasm'])
    expect(skipped[1]!.cause).toHaveProperty('name', 'CompileError')
  })

  it('refuses, rather than swaps, a named backend that does not load or is not built for the runtime', () => {
    const failed = thrown(() => chooseBackend([nativeWithoutAddon, wasm], 'native'))
    expect(failed).toBeInstanceOf(BackendUnavailableError)
    expect((failed as BackendUnavailableError).backend).toBe('native')
    const absent = thrown(() => chooseBackend([wasm], 'native'))
    expect(absent).toBeInstanceOf(BackendUnavailableError)
    expect((absent as BackendUnavailableError).backend).toBe('native')
    expect(chooseBackend([nativeWithoutAddon], 'noble').backend).toBe(nobleBackend)
  })

  it('refuses an addon that loads without ecdsaRecover', () => {
    expect(thrown(() => loadNativeBackend(() => ({})))).toBeInstanceOf(BackendUnavailableError)
  })

  it('lets an error that is not about availability through', () => {
    const broken: BackendCandidate = {
      name: 'native',
      load: () => {
        throw new RangeError('a bug')
      },
    }
    expect(thrown(() => chooseBackend([broken, wasm]))).toBeInstanceOf(RangeError)
  })
})
