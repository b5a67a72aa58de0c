// workerd compiles no WebAssembly from bytes at run time: a module must come
// in the upload, as an import of a .wasm file, which wrangler's default rule
// (CompiledWasm) and vitest-pool-workers turn into a `WebAssembly.Module`.
// tiny-secp256k1's `exports` map hides the file, so the import names its path
// in node_modules, where npm installs a direct dependency (the tests that
// bundle and run this in workerd fail if it moves: test/workers/secp256k1.test.ts,
// test/secp256k1/workers-bundle.test.ts).
import secp256k1Wasm from '../../node_modules/tiny-secp256k1/lib/secp256k1.wasm'

/** tiny-secp256k1's compiled module, on Workers: bundled with the Worker. */
export function loadWasmModule(): WebAssembly.Module {
  return secp256k1Wasm
}
