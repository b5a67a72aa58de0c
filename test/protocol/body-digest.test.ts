import { describe, expect, it } from 'vitest'
import { bodyDigest, verifyBodyDigest } from '../../src/protocol/body-digest.js'

const utf8 = (text: string) => new TextEncoder().encode(text)

describe('bodyDigest (RFC 9530)', () => {
  it('matches the RFC 9530 example', () => {
    expect(bodyDigest(utf8('{"hello": "world"}'))).toBe('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:')
  })

  it('digests the empty body', () => {
    expect(bodyDigest(new Uint8Array())).toBe('sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:')
  })

  it('verifies only the exact bytes', () => {
    const digest = bodyDigest(utf8('{"a":1}'))
    expect(verifyBodyDigest(digest, utf8('{"a":1}'))).toBe(true)
    expect(verifyBodyDigest(digest, utf8('{"a":1} '))).toBe(false)
    expect(verifyBodyDigest(digest, utf8('{"a":2}'))).toBe(false)
    expect(verifyBodyDigest(digest.replace('sha-256', 'sha-512'), utf8('{"a":1}'))).toBe(false)
    expect(verifyBodyDigest('', utf8('{"a":1}'))).toBe(false)
  })
})
