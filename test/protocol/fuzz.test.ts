import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { base64url } from '../../src/protocol/base64url.js'
import { canonicalJson } from '../../src/protocol/canonical-json.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { WireError } from '../../src/protocol/wire-error.js'

// Either the parser returns, or it throws its own typed error; nothing else.
function onlyTypedErrors(parse: (input: string) => unknown, kind: WireError['kind']) {
  return (input: string) => {
    try {
      parse(input)
    } catch (error) {
      if (!(error instanceof WireError) || error.kind !== kind) throw error
    }
  }
}

const runs = { numRuns: 2_000 }
// Strings over the characters that matter to the header grammars.
const headerish = fc.string({
  unit: fc.constantFrom(...'Payment ,="\\\t\r\nabcdefghijklmnopqrstuvwxyzIDR0189_-+/=;:é\u0000\u00ff'.split('')),
  maxLength: 120,
})
const jsonValue = fc.jsonValue({ maxDepth: 3 })
const challengeParts = fc.record({
  realm: fc.stringMatching(/^[\x20-\x7E]{1,20}$/),
  method: fc.stringMatching(/^[a-z]{1,8}$/),
  intent: fc.stringMatching(/^[A-Za-z0-9-]{1,8}$/),
  request: fc.dictionary(fc.string({ maxLength: 8 }), jsonValue, { maxKeys: 4 }),
  description: fc.option(fc.stringMatching(/^[\t\x20-\x7E]{0,30}$/), { nil: undefined }),
  opaque: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })), { nil: undefined }),
  header: fc.constantFrom(undefined, 'Authorization' as const, 'Payment-Authorization' as const),
})

describe('wire parsers under arbitrary input', () => {
  it('base64url.decode and decodeText throw only WireError', () => {
    fc.assert(fc.property(fc.string(), onlyTypedErrors(base64url.decode, 'base64url')), runs)
    fc.assert(fc.property(fc.string(), onlyTypedErrors(base64url.decodeText, 'base64url')), runs)
  })

  it('Challenge.parse throws only WireError', () => {
    fc.assert(fc.property(fc.string(), onlyTypedErrors(Challenge.parse, 'challenge')), runs)
    fc.assert(fc.property(headerish, onlyTypedErrors(Challenge.parse, 'challenge')), runs)
    fc.assert(
      fc.property(headerish, (tail) => onlyTypedErrors(Challenge.parse, 'challenge')(`Payment id="a", ${tail}`)),
      runs,
    )
  })

  it('Credential.parse throws only WireError', () => {
    fc.assert(fc.property(fc.string(), onlyTypedErrors(Credential.parse, 'credential')), runs)
    fc.assert(
      fc.property(jsonValue, (value) =>
        onlyTypedErrors(Credential.parse, 'credential')(`Payment ${base64url.encode(JSON.stringify(value) ?? '')}`),
      ),
      runs,
    )
    const nearCredential = fc.record({
      challenge: fc.dictionary(fc.constantFrom('id', 'realm', 'method', 'intent', 'request', 'opaque', 'expires', 'header'), jsonValue),
      payload: jsonValue,
      source: jsonValue,
    })
    fc.assert(
      fc.property(nearCredential, (value) =>
        onlyTypedErrors(Credential.parse, 'credential')(`Payment ${base64url.encode(JSON.stringify(value))}`),
      ),
      runs,
    )
  })

  it('Receipt.parse throws only WireError', () => {
    fc.assert(fc.property(fc.string(), onlyTypedErrors(Receipt.parse, 'receipt')), runs)
    fc.assert(
      fc.property(jsonValue, (value) => onlyTypedErrors(Receipt.parse, 'receipt')(base64url.encode(JSON.stringify(value) ?? ''))),
      runs,
    )
  })
})

describe('wire round trips under arbitrary values', () => {
  it('base64url.decode inverts encode', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(base64url.decode(base64url.encode(bytes))).toEqual(bytes)
      }),
      runs,
    )
  })

  it('canonicalJson is a fixed point of parse', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        const canonical = canonicalJson(value)
        expect(canonicalJson(JSON.parse(canonical))).toBe(canonical)
      }),
      runs,
    )
  })

  it('Challenge.parse inverts Challenge.format', () => {
    fc.assert(
      fc.property(challengeParts, (parts) => {
        const challenge = Challenge.create({ secretKey: 'k'.repeat(32), expires: '2030-01-01T00:00:00Z', ...parts })
        expect(Challenge.parse(Challenge.format(challenge))).toEqual(challenge)
      }),
      runs,
    )
  })

  it('Credential.parse inverts Credential.format', () => {
    fc.assert(
      fc.property(challengeParts, fc.dictionary(fc.string({ maxLength: 8 }), jsonValue, { maxKeys: 4 }), (parts, payload) => {
        const credential = { challenge: Challenge.create({ secretKey: 'k'.repeat(32), ...parts }), payload }
        // JSON has no -0: compare with the payload as JSON carries it.
        expect(Credential.parse(Credential.format(credential))).toEqual({ ...credential, payload: JSON.parse(JSON.stringify(payload)) })
      }),
      runs,
    )
  })
})
