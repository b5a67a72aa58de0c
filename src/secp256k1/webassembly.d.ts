// The WebAssembly JavaScript API as src/secp256k1/ uses it: the project's type
// libraries (ES2023, @types/node 20) declare none of it, and esbuild's types
// declare an empty `WebAssembly.Module`, which this extends.
declare namespace WebAssembly {
  // biome-ignore lint/suspicious/noEmptyInterface: a compiled module is an opaque handle
  interface Module {}
  const Module: new (bytes: Uint8Array) => Module
  interface Instance {
    readonly exports: Record<string, unknown>
  }
  const Instance: new (module: Module, imports: Record<string, Record<string, (...args: never[]) => unknown>>) => Instance
  interface Memory {
    readonly buffer: ArrayBuffer
  }
  interface Global {
    readonly value: unknown
  }
}

// A .wasm import on Workers (wrangler's CompiledWasm rule, vitest-pool-workers alike): the compiled module.
declare module '*.wasm' {
  const module: WebAssembly.Module
  export default module
}
