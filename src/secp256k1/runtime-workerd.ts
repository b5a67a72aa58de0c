// The backend faster than noble on Cloudflare Workers (chosen by the `workerd` condition of the
// `#secp256k1/runtime` import of package.json): no N-API addon there, and no Node built-in is imported.
import type { BackendCandidate } from './candidates.js'
import { loadWasmBackend } from './wasm.js'
import { loadWasmModule } from './wasm-module-workerd.js'

export const runtimeCandidates: readonly BackendCandidate[] = [{ name: 'wasm', load: () => loadWasmBackend(loadWasmModule) }]
