import { describe, expect, it } from 'vitest'
import { base64url } from '../../src/protocol/base64url.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential, maxCredentialLength } from '../../src/protocol/credential.js'
import { WireError } from '../../src/protocol/wire-error.js'

const challenge = Challenge.create({
  secretKey: 's'.repeat(32),
  realm: 'api.example.com',
  method: 'tempo',
  intent: 'session',
  request: { amount: '1' },
  expires: '2030-01-01T00:00:00Z',
})
const credential: Credential = { challenge, payload: { action: 'voucher', cumulativeAmount: '5' }, source: 'did:pkh:eip155:4217:0xabc' }

function expectMalformed(value: string) {
  expect(() => Credential.parse(value)).toThrow(WireError)
  try {
    Credential.parse(value)
  } catch (error) {
    expect((error as WireError).kind).toBe('credential')
  }
}

describe('Credential.format / Credential.parse', () => {
  it('round-trips', () => {
    const header = Credential.format(credential)
    expect(header).toMatch(/^Payment [A-Za-z0-9_-]+$/)
    expect(Credential.parse(header)).toEqual(credential)
  })

  it('parses the example credential of draft-httpauth-payment', () => {
    const parsed = Credential.parse(
      'Payment eyJjaGFsbGVuZ2UiOnsiaWQiOiJ4N1RnMnBMcVI5bUt2TndZM2hCY1phIiwicmVhbG0iOiJhcGkuZXhhbXBsZS5jb20iLCJtZXRob2QiOiJleGFtcGxlIiwiaW50ZW50IjoiY2hhcmdlIiwicmVxdWVzdCI6ImV5SmhiVzkxYm5RaU9pSXhNREF3SWl3aVkzVnljbVZ1WTNraU9pSlZVMFFpTENKeVpXTnBjR2xsYm5RaU9pSmhZMk4wWHpFeU15SjkiLCJleHBpcmVzIjoiMjAyNS0wMS0xNVQxMjowNTowMFoifSwicGF5bG9hZCI6eyJwcm9vZiI6IjB4YWJjMTIzLi4uIn19',
    )
    expect(parsed.challenge).toEqual({
      id: 'x7Tg2pLqR9mKvNwY3hBcZa',
      realm: 'api.example.com',
      method: 'example',
      intent: 'charge',
      request: 'eyJhbW91bnQiOiIxMDAwIiwiY3VycmVuY3kiOiJVU0QiLCJyZWNpcGllbnQiOiJhY2N0XzEyMyJ9',
      expires: '2025-01-15T12:05:00Z',
    })
    expect(parsed.payload).toEqual({ proof: '0xabc123...' })
    expect(Challenge.request(parsed.challenge)).toEqual({ amount: '1000', currency: 'USD', recipient: 'acct_123' })
  })

  it('accepts a case-insensitive scheme and ignores unknown members', () => {
    const json = JSON.stringify({ ...credential, extra: 1, challenge: { ...challenge, future: 'x' } })
    expect(Credential.parse(`payment ${base64url.encode(json)}`)).toEqual(credential)
  })

  const encoded = base64url.encode(JSON.stringify(credential))
  // A payload whose standard-base64 form differs from base64url: `?>` encodes to `Pz4` / `Pz4+`.
  const withPlusSlash = Buffer.from(JSON.stringify({ ...credential, payload: { x: '??>>>' } })).toString('base64')

  it.each([
    ['a padded payload', `Payment ${encoded}${'='.repeat((4 - (encoded.length % 4)) % 4 || 2)}`],
    ['a standard-base64 payload with + and /', `Payment ${withPlusSlash.replace(/=+$/, '')}`],
    ['no token after the scheme', 'Payment'],
    ['only spaces after the scheme', 'Payment    '],
    ['another scheme', `Bearer ${encoded}`],
    ['two credentials', `Payment ${encoded}, Payment ${encoded}`],
    ['trailing garbage', `Payment ${encoded} x`],
    ['base64url that is not JSON', `Payment ${base64url.encode('not json')}`],
    ['invalid UTF-8', `Payment ${base64url.encode(new Uint8Array([0x7b, 0xff, 0x7d]))}`],
    ['a JSON array', `Payment ${base64url.encode('[]')}`],
    ['a missing payload', `Payment ${base64url.encode(JSON.stringify({ challenge }))}`],
    ['a non-object payload', `Payment ${base64url.encode(JSON.stringify({ challenge, payload: 'x' }))}`],
    ['an empty challenge id', `Payment ${base64url.encode(JSON.stringify({ ...credential, challenge: { ...challenge, id: '' } }))}`],
    [
      'a challenge without request',
      `Payment ${base64url.encode(JSON.stringify({ ...credential, challenge: { ...challenge, request: undefined } }))}`,
    ],
    ['an uppercase method', `Payment ${base64url.encode(JSON.stringify({ ...credential, challenge: { ...challenge, method: 'TEMPO' } }))}`],
    ['a numeric source', `Payment ${base64url.encode(JSON.stringify({ ...credential, source: 1 }))}`],
  ])('rejects %s', (_, value) => {
    expectMalformed(value)
  })

  it('makes sure the + and / case really is outside the URL-safe alphabet', () => {
    expect(withPlusSlash).toMatch(/[+/]/)
  })

  it(`rejects a credential over ${maxCredentialLength} bytes before decoding it`, () => {
    const big = { ...credential, payload: { filler: 'x'.repeat(maxCredentialLength) } }
    expectMalformed(`Payment ${base64url.encode(JSON.stringify(big))}`)
    const justUnder = { ...credential, payload: { filler: 'x'.repeat(10_000) } }
    expect(Credential.parse(`Payment ${base64url.encode(JSON.stringify(justUnder))}`).payload).toEqual(justUnder.payload)
  })
})
