import { describe, expect, it } from 'vitest'
import { base64url } from '../../src/protocol/base64url.js'
import { WireError } from '../../src/protocol/wire-error.js'

const bytes = (...values: number[]) => new Uint8Array(values)

describe('base64url', () => {
  it('encodes with the URL-safe alphabet and never pads', () => {
    expect(base64url.encode(bytes(0xfb, 0xff))).toBe('-_8')
    expect(base64url.encode(bytes(0xfb, 0xff, 0xbf))).toBe('-_-_')
    expect(base64url.encode('hi?>')).toBe('aGk_Pg')
    expect(base64url.encode(new Uint8Array())).toBe('')
  })

  it('round-trips every length of arbitrary bytes', () => {
    for (let length = 0; length < 40; length++) {
      const input = crypto.getRandomValues(new Uint8Array(length))
      expect(base64url.decode(base64url.encode(input))).toEqual(input)
    }
  })

  it('decodes UTF-8 text and round-trips it', () => {
    const text = 'payé €5 — 😀'
    expect(base64url.decodeText(base64url.encode(text))).toBe(text)
  })

  it.each([
    ['padding', 'aGk_Pg=='],
    ['a single pad', 'aGk_Pg='],
    ['standard alphabet +', 'a+8'],
    ['standard alphabet /', 'aGk/Pg'],
    ['whitespace', 'aG k'],
    ['a newline', 'aGk_\nPg'],
    ['an impossible length', 'a'],
    ['non-zero trailing bits', 'aGl'],
    ['non-ASCII', 'aGké'],
  ])('rejects %s', (_, input) => {
    expect(() => base64url.decode(input)).toThrow(WireError)
    try {
      base64url.decode(input)
    } catch (error) {
      expect((error as WireError).kind).toBe('base64url')
    }
  })

  it('rejects invalid UTF-8 in the text variant only', () => {
    const invalid = base64url.encode(bytes(0xc3, 0x28))
    expect(base64url.decode(invalid)).toEqual(bytes(0xc3, 0x28))
    expect(() => base64url.decodeText(invalid)).toThrow(WireError)
    expect(() => base64url.decodeText(base64url.encode(bytes(0xed, 0xa0, 0x80)))).toThrow(WireError) // encoded surrogate
  })
})
