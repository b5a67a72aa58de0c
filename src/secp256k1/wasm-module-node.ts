import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

/**
 * tiny-secp256k1's compiled module, on Node: read from the installed package
 * and compiled once. Its `exports` map hides lib/secp256k1.wasm, so the path
 * is taken from the entry Node resolves for `require` (lib/cjs/index.cjs).
 */
export function loadWasmModule(): WebAssembly.Module {
  const entry = createRequire(import.meta.url).resolve('tiny-secp256k1')
  return new WebAssembly.Module(readFileSync(new URL('../secp256k1.wasm', pathToFileURL(entry))))
}
