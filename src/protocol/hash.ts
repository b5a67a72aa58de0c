import { hmac } from '@noble/hashes/hmac.js'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'

// SHA-256 and HMAC-SHA256 over Node's native crypto where the runtime has it
// (found through `process.getBuiltinModule`, so nothing imports `node:crypto`
// where it does not exist), else @noble/hashes (workerd without nodejs_compat).
// Same bytes either way; native is an order of magnitude faster, and every
// challenge is MAC'd and every paid request's body hashed.
type Digestible = { update(data: Uint8Array | string): Digestible; digest(): Uint8Array }
type NodeCrypto = {
  createHash(algorithm: 'sha256'): Digestible
  createHmac(algorithm: 'sha256', key: Uint8Array): Digestible
  /** One-shot digest (Node ≥ 20.12): no Hash stream object per call. */
  hash?(algorithm: 'sha256', data: Uint8Array, outputEncoding: 'buffer'): Uint8Array
}
const builtin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule
const native = typeof builtin === 'function' ? (builtin('node:crypto') as NodeCrypto | undefined) : undefined

// Node returns a Buffer: hand out a plain Uint8Array over the same bytes.
const plain = (bytes: Uint8Array) => new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  if (native === undefined) return nobleSha256(data)
  return plain(native.hash === undefined ? native.createHash('sha256').update(data).digest() : native.hash('sha256', data, 'buffer'))
}

const utf8 = new TextEncoder()

/** HMAC-SHA256 of `data` (a string is MAC'd as its UTF-8 bytes) under `key`. */
export function hmacSha256(key: Uint8Array, data: Uint8Array | string): Uint8Array {
  if (native === undefined) return hmac(nobleSha256, key, typeof data === 'string' ? utf8.encode(data) : data)
  // Native `update` takes a string as UTF-8 itself, without an intermediate copy.
  return plain(native.createHmac('sha256', key).update(data).digest())
}

/** A stable 32-bit number derived from a string (the first bytes of its SHA-256): for sharding and seeding, not security. */
export function hash32(text: string): number {
  const digest = sha256(utf8.encode(text))
  return ((digest[0]! << 24) | (digest[1]! << 16) | (digest[2]! << 8) | digest[3]!) >>> 0
}
