import { createHash, createHmac, randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it, vi } from 'vitest'

// Both code paths of the hashing and base64 modules: Node's native ones, and the
// portable ones (@noble/hashes, jose, btoa) a runtime without Node's builtins
// gets. Each module picks its path at import, so each is imported fresh with
// the builtins hidden or not.
async function load(portable: boolean) {
  vi.resetModules()
  if (portable) {
    vi.stubGlobal('Buffer', undefined)
    vi.stubGlobal('process', { ...process, getBuiltinModule: undefined })
  }
  try {
    const [hash, codec] = await Promise.all([import('../../src/protocol/hash.js'), import('../../src/protocol/base64url.js')])
    return { ...hash, ...codec }
  } finally {
    vi.unstubAllGlobals()
  }
}

afterEach(() => vi.unstubAllGlobals())

const inputs = [0, 1, 31, 55, 56, 63, 64, 65, 900, 5000].map((length) => new Uint8Array(randomBytes(length)))
const key = new Uint8Array(randomBytes(39))
const text = 'realm|tempo|session|eyJ…|2026-01-01T00:00:00Z|sha-256=:…:|é✓😀'

describe.each([
  ['native', false],
  ['portable', true],
])('%s path', (_, portable) => {
  it("sha256 and hmacSha256 match node:crypto, a string MAC'd as its UTF-8 bytes", async () => {
    const { sha256, hmacSha256 } = await load(portable)
    for (const input of inputs) {
      expect(Buffer.from(sha256(input)).toString('hex')).toBe(createHash('sha256').update(input).digest('hex'))
      expect(Buffer.from(hmacSha256(key, input)).toString('hex')).toBe(createHmac('sha256', key).update(input).digest('hex'))
    }
    expect(Buffer.from(hmacSha256(key, text)).toString('hex')).toBe(createHmac('sha256', key).update(text, 'utf8').digest('hex'))
  })

  it('hands out plain Uint8Arrays, not Buffers', async () => {
    const { sha256, hmacSha256 } = await load(portable)
    expect(Object.getPrototypeOf(sha256(inputs[3]!))).toBe(Uint8Array.prototype)
    expect(Object.getPrototypeOf(hmacSha256(key, text))).toBe(Uint8Array.prototype)
  })

  it('base64 (padded, standard) and base64url (unpadded, URL-safe) match Buffer', async () => {
    const { base64, base64url } = await load(portable)
    for (const input of inputs) {
      expect(base64(input)).toBe(Buffer.from(input).toString('base64'))
      expect(base64url.encode(input)).toBe(Buffer.from(input).toString('base64url'))
      expect(base64url.decode(base64url.encode(input))).toEqual(input)
    }
    // A view into a larger buffer encodes only its own bytes.
    const view = inputs[8]!.subarray(7, 40)
    expect(base64(view)).toBe(Buffer.from(view).toString('base64'))
  })
})
