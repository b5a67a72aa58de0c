const utf8 = new TextEncoder()

/**
 * Compares two byte strings (or the UTF-8 bytes of two strings) in time that
 * depends only on their lengths, for MACs and digests. Lengths are public.
 */
export function timingSafeEqual(a: Uint8Array | string, b: Uint8Array | string): boolean {
  const x = typeof a === 'string' ? utf8.encode(a) : a
  const y = typeof b === 'string' ? utf8.encode(b) : b
  if (x.length !== y.length) return false
  let difference = 0
  for (let i = 0; i < x.length; i++) difference |= x[i]! ^ y[i]!
  return difference === 0
}
