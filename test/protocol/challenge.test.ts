import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { base64url } from '../../src/protocol/base64url.js'
import { canonicalJson } from '../../src/protocol/canonical-json.js'
import { Challenge, computeChallengeId } from '../../src/protocol/challenge.js'
import { WireError } from '../../src/protocol/wire-error.js'

const secretKey = 'k'.repeat(32)
const request = {
  amount: '25',
  currency: '0x20c0000000000000000000000000000000000000',
  recipient: '0xabc',
  methodDetails: { chainId: 4217 },
}
const base = { realm: 'api.example.com', method: 'tempo', intent: 'session', request }

// An independent HMAC (node:crypto) over the given slots.
const referenceId = (slots: string[]) => createHmac('sha256', secretKey).update(slots.join('|')).digest('base64url')

function expectWireError(fn: () => unknown, kind = 'challenge') {
  expect(fn).toThrow(WireError)
  try {
    fn()
  } catch (error) {
    expect((error as WireError).kind).toBe(kind)
  }
}

describe('computeChallengeId', () => {
  it('is base64url(HMAC-SHA256) over the seven |-joined slots, JCS-encoding request and opaque', () => {
    const requestB64 = base64url.encode(canonicalJson(request))
    const opaqueB64 = base64url.encode('{"route":"POST /x"}')
    const full = { ...base, secretKey, expires: '2025-01-15T12:05:00Z', digest: 'sha-256=:abc=:', opaque: { route: 'POST /x' } }
    expect(computeChallengeId(full)).toBe(
      referenceId(['api.example.com', 'tempo', 'session', requestB64, '2025-01-15T12:05:00Z', 'sha-256=:abc=:', opaqueB64]),
    )
    expect(computeChallengeId({ ...full, request: requestB64, opaque: opaqueB64 })).toBe(computeChallengeId(full))
  })

  it('keeps empty slots for absent optional fields, so their positions stay distinct', () => {
    const requestB64 = base64url.encode(canonicalJson(request))
    const onlyExpires = computeChallengeId({ ...base, secretKey, expires: 'X' })
    const onlyDigest = computeChallengeId({ ...base, secretKey, digest: 'X' })
    expect(onlyExpires).toBe(referenceId(['api.example.com', 'tempo', 'session', requestB64, 'X', '', '']))
    expect(onlyDigest).toBe(referenceId(['api.example.com', 'tempo', 'session', requestB64, '', 'X', '']))
    expect(onlyExpires).not.toBe(onlyDigest)
  })

  it('binds a selected Payment-Authorization in an eighth slot, before opaque', () => {
    const requestB64 = base64url.encode(canonicalJson(request))
    const opaqueB64 = base64url.encode('{"route":"POST /x"}')
    const full = { ...base, secretKey, expires: 'E', digest: 'D', opaque: { route: 'POST /x' } }
    expect(computeChallengeId({ ...full, header: 'Payment-Authorization' })).toBe(
      referenceId(['api.example.com', 'tempo', 'session', requestB64, 'E', 'D', 'Payment-Authorization', opaqueB64]),
    )
    expect(computeChallengeId({ ...base, secretKey, header: 'Payment-Authorization' })).toBe(
      referenceId(['api.example.com', 'tempo', 'session', requestB64, '', '', 'Payment-Authorization', '']),
    )
  })

  it('binds no slot for the default Authorization, so a challenge without header keeps its seven-slot id', () => {
    const full = { ...base, secretKey, expires: 'E', digest: 'D', opaque: { route: 'POST /x' } }
    expect(computeChallengeId({ ...full, header: 'Authorization' })).toBe(computeChallengeId(full))
    expect(computeChallengeId({ ...full, header: 'Payment-Authorization' })).not.toBe(computeChallengeId(full))
  })

  it('does not depend on key order of the request object', () => {
    const reordered = { methodDetails: { chainId: 4217 }, recipient: '0xabc', currency: request.currency, amount: '25' }
    expect(computeChallengeId({ ...base, secretKey, request: reordered })).toBe(computeChallengeId({ ...base, secretKey }))
  })

  it('depends on the secret', () => {
    expect(computeChallengeId({ ...base, secretKey: 'j'.repeat(32) })).not.toBe(computeChallengeId({ ...base, secretKey }))
  })
})

describe('Challenge.format / Challenge.parse', () => {
  const challenge = Challenge.create({
    ...base,
    secretKey,
    expires: '2025-01-15T12:05:00Z',
    digest: 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
    opaque: { route: 'POST /v1/x' },
    description: 'Say "hi" \\ bye',
  })

  it('round-trips every parameter, including escaped quoted-strings', () => {
    const header = Challenge.format(challenge)
    expect(header.startsWith('Payment id="')).toBe(true)
    expect(header).toContain('description="Say \\"hi\\" \\\\ bye"')
    expect(Challenge.parse(header)).toEqual(challenge)
    expect(Challenge.request(challenge)).toEqual(request)
    expect(Challenge.opaque(challenge)).toEqual({ route: 'POST /v1/x' })
  })

  it('formats a created challenge (frozen, not re-validated) exactly as the same parameters from elsewhere', () => {
    expect(Object.isFrozen(challenge)).toBe(true)
    expect(Challenge.format(challenge)).toBe(Challenge.format({ ...challenge }))
    // A copy is validated: a request that is not base64url JSON is refused.
    expect(() => Challenge.format({ ...challenge, request: 'not json' })).toThrow(WireError)
  })

  it('encodes a request the same however often it repeats, and still refuses one JCS cannot encode', () => {
    const terms = { amount: '1', methodDetails: { chainId: 1, requiredCumulative: '5' }, missing: null }
    const first = Challenge.create({ ...base, secretKey, request: terms })
    const again = Challenge.create({
      ...base,
      secretKey,
      request: { missing: null, methodDetails: { requiredCumulative: '5', chainId: 1 }, amount: '1' },
    })
    expect(again.request).toBe(first.request)
    expect(Challenge.request(first)).toEqual(terms)
    // Same JSON text as `terms` once NaN is written as null; JCS refuses NaN.
    expect(() => Challenge.create({ ...base, secretKey, request: { ...terms, missing: Number.NaN } })).toThrow(WireError)
  })

  it('parses several challenges in one value and several header lines joined by ", "', () => {
    const other = Challenge.create({ ...base, secretKey, intent: 'charge' })
    const joined = `${Challenge.format(challenge)}, ${Challenge.format(other)}`
    expect(Challenge.parseAll(joined)).toEqual([challenge, other])
    // `parse` is for exactly one: several is an error, not a silent pick.
    expect(() => Challenge.parse(joined)).toThrow(WireError)
    const headers = new Headers()
    headers.append('WWW-Authenticate', Challenge.format(challenge))
    headers.append('WWW-Authenticate', 'Bearer realm="x", error="invalid_token"')
    headers.append('WWW-Authenticate', Challenge.format(other))
    expect(Challenge.parseAll(headers.get('WWW-Authenticate')!)).toEqual([challenge, other])
  })

  it('skips other schemes, including token68 ones', () => {
    const value = `Basic dXNlcjpwYXNz==, Bearer realm="a", ${Challenge.format(challenge)}, Negotiate`
    expect(Challenge.parse(value)).toEqual(challenge)
  })

  it('accepts tokens, case-insensitive names and scheme, BWS around "=", and empty list elements', () => {
    const value = `payment ID=${challenge.id} , , Realm = "api.example.com",method=tempo,intent=session,request=${challenge.request}`
    expect(Challenge.parse(value)).toEqual({
      id: challenge.id,
      realm: 'api.example.com',
      method: 'tempo',
      intent: 'session',
      request: challenge.request,
    })
  })

  it('ignores unknown parameters', () => {
    const value = `${Challenge.format(challenge)}, future="x", other=y`
    expect(Challenge.parse(value)).toEqual(challenge)
  })

  it.each(['id', 'realm', 'method', 'intent', 'request'])('rejects a missing or empty %s', (name) => {
    const params = { id: challenge.id, realm: 'r', method: 'tempo', intent: 'session', request: challenge.request }
    const without = Object.entries(params)
      .filter(([key]) => key !== name)
      .map(([key, value]) => `${key}="${value}"`)
    expectWireError(() => Challenge.parse(`Payment ${without.join(', ')}`))
    expectWireError(() => Challenge.parse(`Payment ${[...without, `${name}=""`].join(', ')}`))
  })

  it.each([
    ['an uppercase method', (v: string) => v.replace('method="tempo"', 'method="Tempo"')],
    ['a method with digits', (v: string) => v.replace('method="tempo"', 'method="tempo2"')],
    ['a request that is not base64url JSON', (v: string) => v.replace(/request="[^"]*"/, 'request="bm90IGpzb24"')],
    ['a request that is a JSON array', (v: string) => v.replace(/request="[^"]*"/, `request="${base64url.encode('[1]')}"`)],
    ['a padded request', (v: string) => v.replace(/request="([^"]*)"/, 'request="$1=="')],
    ['an opaque with a non-string value', (v: string) => v.replace(/opaque="[^"]*"/, `opaque="${base64url.encode('{"a":1}')}"`)],
    ['a malformed expires', (v: string) => v.replace('2025-01-15T12:05:00Z', 'tomorrow')],
    ['an expires on a day that does not exist', (v: string) => v.replace('2025-01-15T12:05:00Z', '2025-02-30T12:05:00Z')],
    ['a repeated parameter', (v: string) => `${v}, realm="other"`],
    ['an unterminated quoted-string', (v: string) => `${v}, x="open`],
    ['a control character in a quoted-string', (v: string) => v.replace('Say', 'Sa\u0001y')],
    ['a missing "=" value', (v: string) => `${v}, x=`],
    ['a parameter without a scheme', () => 'realm="x"'],
    ['token68 on Payment', () => 'Payment abc=='],
    ['no Payment challenge', () => 'Bearer realm="x"'],
    ['an empty value', () => ''],
  ])('rejects %s', (_, mutate) => {
    expectWireError(() => Challenge.parse(mutate(Challenge.format(challenge))))
  })

  it('writes, reads and binds header="Payment-Authorization"; the default Authorization is not written', () => {
    const selecting = Challenge.create({ ...base, secretKey, header: 'Payment-Authorization', opaque: { route: 'GET /x' } })
    const header = Challenge.format(selecting)
    expect(header).toContain(', header="Payment-Authorization", opaque="')
    expect(Challenge.parse(header)).toEqual(selecting)
    expect(Challenge.credentialHeader(selecting)).toBe('Payment-Authorization')
    expect(selecting.id).toBe(computeChallengeId({ ...base, secretKey, header: 'Payment-Authorization', opaque: { route: 'GET /x' } }))

    const byDefault = Challenge.create({ ...base, secretKey, header: 'Authorization' })
    expect(byDefault).toEqual(Challenge.create({ ...base, secretKey }))
    expect(Challenge.format(byDefault)).not.toContain('header=')
    expect(Challenge.credentialHeader(byDefault)).toBe('Authorization')
  })

  it.each(['Authorization', 'payment-authorization', 'X-Payment', ''])(
    'rejects header=%j: draft-02 allows only Payment-Authorization',
    (value) => {
      expectWireError(() => Challenge.parse(`${Challenge.format(challenge)}, header="${value}"`))
      expectWireError(() => Challenge.format({ ...challenge, header: value as 'Payment-Authorization' }))
    },
  )

  it('refuses to format values a header cannot carry (no CR/LF injection)', () => {
    expectWireError(() => Challenge.format({ ...challenge, description: 'a\r\nSet-Cookie: x=1' }))
    expectWireError(() => Challenge.format({ ...challenge, realm: 'naïve' }))
    expectWireError(() => Challenge.format({ ...challenge, method: 'TEMPO' }))
  })
})
