// Random bytes for ids and nonces, cut from a pool filled 4 KiB at a time:
// one `getRandomValues` call serves hundreds of requests instead of one or two
// calls per request. Every byte is handed out once. The pool is filled on first
// use, never at module load (Workers forbid randomness outside a request).
const poolSize = 4096
let pool = new Uint8Array(0)
let offset = 0

/** `length` fresh random bytes (at most 4096), from the platform's CSPRNG. */
export function randomBytes(length: number): Uint8Array {
  if (length > poolSize) return crypto.getRandomValues(new Uint8Array(length))
  if (offset + length > pool.length) {
    pool = crypto.getRandomValues(new Uint8Array(poolSize))
    offset = 0
  }
  const bytes = pool.slice(offset, offset + length)
  offset += length
  return bytes
}
