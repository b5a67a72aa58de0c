import { base64url as jose } from 'jose'
import { WireError } from './wire-error.js'

const alphabet = /^[A-Za-z0-9_-]*$/
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** URL-safe base64 without padding (RFC 4648 §5), strict in what it accepts. */
export const base64url = {
  /** Encodes bytes, or a string as its UTF-8 bytes. Never emits padding. */
  encode(input: Uint8Array | string): string {
    return jose.encode(input)
  },

  /**
   * Decodes the canonical encoding only: the URL-safe alphabet, no padding, no
   * whitespace, and zero trailing bits. Anything else throws a `WireError`, so one
   * byte string has exactly one accepted spelling.
   */
  decode(input: string): Uint8Array {
    if (!alphabet.test(input)) throw new WireError('base64url', 'not base64url: characters outside the URL-safe alphabet or padding')
    if (input.length % 4 === 1) throw new WireError('base64url', 'not base64url: impossible length')
    const bytes = jose.decode(input)
    // jose tolerates non-zero trailing bits; a round trip rejects them.
    if (jose.encode(bytes) !== input) throw new WireError('base64url', 'not base64url: non-canonical trailing bits')
    return bytes
  },

  /** `decode`, then strict UTF-8 (invalid sequences throw, a BOM is kept as data). */
  decodeText(input: string): string {
    const bytes = base64url.decode(input)
    try {
      return strictUtf8.decode(bytes)
    } catch (cause) {
      throw new WireError('base64url', 'not base64url of UTF-8 text', { cause })
    }
  },
}
