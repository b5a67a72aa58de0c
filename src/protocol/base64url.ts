import { base64url as jose } from 'jose'
import { WireError } from './wire-error.js'

const alphabet = /^[A-Za-z0-9_-]*$/
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

// Node's native codec where there is one (also Workers with nodejs_compat):
// several times faster than jose's btoa/atob fallback, and every credential,
// challenge and receipt goes through here. Elsewhere jose does the same work.
type NativeBuffer = Uint8Array & { toString(encoding: 'base64' | 'base64url'): string }
const native = (
  globalThis as { Buffer?: { from(input: string | ArrayBufferLike, encodingOrOffset?: string | number, length?: number): NativeBuffer } }
).Buffer

// Value of the last character's unused low bits: a canonical encoding has them zero.
const alphabetIndex = (code: number) =>
  code >= 65 && code <= 90 ? code - 65 : code >= 97 && code <= 122 ? code - 71 : code >= 48 && code <= 57 ? code + 4 : code === 45 ? 62 : 63

const nativeBytes = (input: Uint8Array) => native!.from(input.buffer, input.byteOffset, input.byteLength)

/** Standard base64 with padding (RFC 4648 §4), as RFC 8941 byte sequences use. */
export function base64(bytes: Uint8Array): string {
  return native === undefined ? btoa(String.fromCharCode(...bytes)) : nativeBytes(bytes).toString('base64')
}

/** URL-safe base64 without padding (RFC 4648 §5), strict in what it accepts. */
export const base64url = {
  /** Encodes bytes, or a string as its UTF-8 bytes. Never emits padding. */
  encode(input: Uint8Array | string): string {
    if (native === undefined) return jose.encode(input)
    return (typeof input === 'string' ? native.from(input, 'utf8') : nativeBytes(input)).toString('base64url')
  },

  /**
   * Decodes the canonical encoding only: the URL-safe alphabet, no padding, no
   * whitespace, and zero trailing bits. Anything else throws a `WireError`, so one
   * byte string has exactly one accepted spelling.
   */
  decode(input: string): Uint8Array {
    if (!alphabet.test(input)) throw new WireError('base64url', 'not base64url: characters outside the URL-safe alphabet or padding')
    const remainder = input.length % 4
    if (remainder === 1) throw new WireError('base64url', 'not base64url: impossible length')
    // The last character of a 2- or 3-character tail carries 4 or 2 bits beyond the data.
    if (remainder !== 0 && (alphabetIndex(input.charCodeAt(input.length - 1)) & (remainder === 2 ? 0x0f : 0x03)) !== 0) {
      throw new WireError('base64url', 'not base64url: non-canonical trailing bits')
    }
    // A copy, not a view into Node's shared buffer pool.
    return native === undefined ? jose.decode(input) : new Uint8Array(native.from(input, 'base64url'))
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
