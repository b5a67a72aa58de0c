// The backends faster than noble on Node, fastest first (chosen by the `#secp256k1/runtime` import of package.json).
import type { BackendCandidate } from './candidates.js'
import { loadNativeBackend } from './native.js'
import { loadWasmBackend } from './wasm.js'
import { loadWasmModule } from './wasm-module-node.js'

export const runtimeCandidates: readonly BackendCandidate[] = [
  { name: 'native', load: () => loadNativeBackend() },
  { name: 'wasm', load: () => loadWasmBackend(loadWasmModule) },
]
