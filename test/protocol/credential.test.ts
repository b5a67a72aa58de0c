import { describe, expect, it } from 'vitest'
import { base64url } from '../../src/protocol/base64url.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential, maxCredentialLength } from '../../src/protocol/credential.js'
import { WireError } from '../../src/protocol/wire-error.js'

const challengeParameters = {
  secretKey: 's'.repeat(32),
  realm: 'api.example.com',
  method: 'tempo',
  intent: 'session',
  request: { amount: '1' },
  expires: '2030-01-01T00:00:00Z',
}
const challenge = Challenge.create(challengeParameters)
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
  it('round-trips the echo of a challenge selecting Payment-Authorization', () => {
    const selecting = Challenge.create({ ...challengeParameters, header: 'Payment-Authorization' })
    const echoing = { ...credential, challenge: selecting }
    expect(Credential.parse(Credential.format(echoing))).toEqual(echoing)
  })

  it.each(['Authorization', 'X-Payment'])('rejects an echoed header %j', (header) => {
    expectMalformed(`Payment ${base64url.encode(JSON.stringify({ ...credential, challenge: { ...challenge, header } }))}`)
  })

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

describe('Credential.fromHeaders', () => {
  const selecting = Challenge.create({ ...challengeParameters, header: 'Payment-Authorization' })
  const inAuthorization = Credential.format(credential)
  const inPaymentAuthorization = Credential.format({ ...credential, challenge: selecting })
  const headers = (fields: Record<string, string>) => new Headers(fields)

  it('finds nothing when no field carries a Payment credential', () => {
    expect(Credential.fromHeaders(headers({}), 'Authorization')).toEqual({ kind: 'none' })
    expect(Credential.fromHeaders(headers({ Authorization: 'Bearer mF_9.B5f-4.1JqM' }), 'Payment-Authorization')).toEqual({ kind: 'none' })
    expect(Credential.fromHeaders(headers({ Authorization: 'Paymentx abc' }), 'Authorization')).toEqual({ kind: 'none' })
  })

  it('takes the credential from the selected field, whatever the other field holds for ordinary authentication', () => {
    expect(Credential.fromHeaders(headers({ Authorization: inAuthorization }), 'Authorization')).toEqual({ kind: 'found', credential })
    expect(
      Credential.fromHeaders(
        headers({ Authorization: 'Bearer mF_9.B5f-4.1JqM', 'Payment-Authorization': inPaymentAuthorization }),
        'Payment-Authorization',
      ),
    ).toEqual({ kind: 'found', credential: { ...credential, challenge: selecting } })
    // Field names are case-insensitive, the scheme too.
    expect(
      Credential.fromHeaders(headers({ 'payment-authorization': `payment${inPaymentAuthorization.slice(7)}` }), 'Payment-Authorization')
        .kind,
    ).toBe('found')
  })

  it('calls a credential in the other field misplaced, without parsing it', () => {
    expect(Credential.fromHeaders(headers({ Authorization: inPaymentAuthorization }), 'Payment-Authorization')).toEqual({
      kind: 'misplaced',
      field: 'Authorization',
      selected: 'Payment-Authorization',
    })
    expect(Credential.fromHeaders(headers({ 'Payment-Authorization': 'Payment not-base64url!' }), 'Authorization')).toEqual({
      kind: 'misplaced',
      field: 'Payment-Authorization',
      selected: 'Authorization',
    })
  })

  it('calls a credential misplaced when its echoed challenge selects the other field', () => {
    expect(Credential.fromHeaders(headers({ 'Payment-Authorization': inAuthorization }), 'Payment-Authorization')).toEqual({
      kind: 'misplaced',
      field: 'Payment-Authorization',
      selected: 'Authorization',
    })
    expect(Credential.fromHeaders(headers({ Authorization: inPaymentAuthorization }), 'Authorization')).toEqual({
      kind: 'misplaced',
      field: 'Authorization',
      selected: 'Payment-Authorization',
    })
  })

  it('reports Payment credentials in both fields as several', () => {
    const both = headers({ Authorization: inAuthorization, 'Payment-Authorization': inPaymentAuthorization })
    expect(Credential.fromHeaders(both, 'Authorization')).toEqual({ kind: 'several' })
    expect(Credential.fromHeaders(both, 'Payment-Authorization')).toEqual({ kind: 'several' })
  })

  it('throws a credential WireError for a malformed credential in the selected field', () => {
    for (const value of ['Payment', 'Payment not-base64url!', `${inAuthorization}, ${inAuthorization}`]) {
      expect(() => Credential.fromHeaders(headers({ Authorization: value }), 'Authorization')).toThrow(WireError)
    }
  })
})
