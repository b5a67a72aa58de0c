import { base64 } from './base64url.js'
import { sha256 } from './hash.js'
import { timingSafeEqual } from './timing-safe-equal.js'

/**
 * The RFC 9530 `Content-Digest` form of a body's SHA-256, `sha-256=:<base64>:`,
 * as bound into a challenge's `digest` parameter. Standard base64 with padding,
 * as RFC 8941 byte sequences require.
 */
export function bodyDigest(body: Uint8Array): string {
  return `sha-256=:${base64(sha256(body))}:`
}

/**
 * Whether `digest` (a challenge's `digest` parameter) is the SHA-256 digest of
 * `body`, compared in constant time. Only `sha-256`, the algorithm this server
 * binds, is accepted.
 */
export function verifyBodyDigest(digest: string, body: Uint8Array): boolean {
  return timingSafeEqual(digest, bodyDigest(body))
}
