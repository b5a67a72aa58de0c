import type { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors/config-error.js'
import { payment } from '../../src/middleware/payment.js'
import { fixedPrice } from '../../src/payment/pricing.js'
import { base64url } from '../../src/protocol/base64url.js'
import { bodyDigest } from '../../src/protocol/body-digest.js'
import { Challenge, computeChallengeId } from '../../src/protocol/challenge.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { memoryStore } from '../../src/stores/memory.js'
import { credentialFor, json, secretKey, testApp, testMethod } from '../support/test-method.js'

const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }] }

async function problem(response: Response) {
  expect(response.headers.get('Content-Type')).toBe('application/problem+json')
  return (await response.json()) as Record<string, unknown> & { error: Record<string, unknown> }
}

describe('payment middleware: unpaid request', () => {
  it('answers 402 with a bound challenge: verifiable id, body digest, route in opaque, no-store', async () => {
    const { app, calls } = testApp()
    const response = await app.request('/v1/echo', json(body))
    expect(response.status).toBe(402)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    expect(response.headers.get('Payment-Receipt')).toBeNull()
    const challenge = Challenge.parse(response.headers.get('WWW-Authenticate')!) as Challenge
    expect(challenge).toMatchObject({ realm: 'api.example.com', method: 'test', intent: 'charge' })
    expect(challenge.id).toBe(computeChallengeId({ secretKey, ...challenge }))
    expect(challenge.digest).toBe(bodyDigest(new TextEncoder().encode(JSON.stringify(body))))
    expect(Challenge.opaque(challenge)).toEqual({ route: 'POST /v1/echo', nonce: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/) })
    expect(Challenge.request(challenge)).toEqual({ amount: '100', currency: 'usd', recipient: 'acct_1' })
    const expiresIn = Date.parse(challenge.expires!) - Date.now()
    expect(expiresIn).toBeGreaterThan(290_000)
    expect(expiresIn).toBeLessThanOrEqual(300_000)
    const envelope = await problem(response)
    expect(envelope).toMatchObject({ code: 'payment_required', status: 402, challengeId: challenge.id, retryable: true })
    expect(calls).toEqual({ authorized: 0, committed: 0, released: 0 })
  })

  it('issues a unique challenge every time, even for identical requests', async () => {
    const { app } = testApp()
    const ids = new Set<string>()
    for (let i = 0; i < 5; i++) {
      const response = await app.request('/v1/echo', json(body))
      ids.add((Challenge.parse(response.headers.get('WWW-Authenticate')!) as Challenge).id)
    }
    expect(ids.size).toBe(5)
  })

  it('binds no digest when there is no body', async () => {
    const { app } = testApp()
    const response = await app.request('/v1/resource')
    expect(response.status).toBe(402)
    expect((Challenge.parse(response.headers.get('WWW-Authenticate')!) as Challenge).digest).toBeUndefined()
  })

  it('treats another Authorization scheme as no credential', async () => {
    const { app } = testApp()
    const response = await app.request('/v1/echo', json(body, { Authorization: 'Bearer sk-123' }))
    expect(response.status).toBe(402)
    expect((await problem(response)).code).toBe('payment_required')
  })

  it('answers a request that cannot be priced with the quote error and no challenge', async () => {
    const { PaymentError } = await import('../../src/errors/payment-error.js')
    const { app } = testApp({ method: { challengeError: new PaymentError('mpp_request_quote_invalid', 'max_tokens must be positive.') } })
    const response = await app.request('/v1/echo', json(body))
    expect(response.status).toBe(400)
    expect(response.headers.get('WWW-Authenticate')).toBeNull()
    expect(await problem(response)).toMatchObject({ code: 'mpp_request_quote_invalid', detail: 'max_tokens must be positive.' })
  })
})

describe('payment middleware: paid retry', () => {
  it('runs the handler with the verified payment, leaves the body readable, commits and attaches the receipt', async () => {
    const { app, calls } = testApp()
    const unpaid = await app.request('/v1/echo', json(body))
    const response = await app.request('/v1/echo', json(body, { Authorization: credentialFor(unpaid, { proof: 'paid' }) }))
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ payer: 'alice', body })
    expect(response.headers.get('Cache-Control')).toBe('private')
    const receipt = Receipt.parse(response.headers.get('Payment-Receipt')!)
    const challenge = Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge
    expect(receipt).toMatchObject({ status: 'success', method: 'test', challengeId: challenge.id })
    expect(calls).toEqual({ authorized: 1, committed: 1, released: 0 })
  })

  it('attaches the receipt to a response whose headers are immutable (a fetched one), on a copy', async () => {
    const { app, calls } = testApp()
    const unpaid = await app.request('/v1/fetched', json(body))
    const response = await app.request(
      '/v1/fetched',
      json(body, { Authorization: credentialFor(unpaid, { proof: 'paid' }), 'X-Request-Id': 'req-fetched' }),
    )
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('fetched')
    expect(response.headers.get('Payment-Receipt')).not.toBeNull()
    expect(response.headers.get('X-Request-Id')).toBe('req-fetched')
    expect(calls).toEqual({ authorized: 1, committed: 1, released: 0 })
  })

  it('pays a body-less GET', async () => {
    const { app } = testApp()
    const unpaid = await app.request('/v1/resource')
    const response = await app.request('/v1/resource', { headers: { Authorization: credentialFor(unpaid, { proof: 'paid' }) } })
    expect(response.status).toBe(200)
    expect(response.headers.get('Payment-Receipt')).not.toBeNull()
  })

  it('answers a management action without running the handler', async () => {
    const { app, calls } = testApp()
    const unpaid = await app.request('/v1/throws', json(body))
    const response = await app.request('/v1/throws', json(body, { Authorization: credentialFor(unpaid, { action: 'manage' }) }))
    expect(response.status).toBe(204)
    expect(response.headers.get('Cache-Control')).toBe('private')
    expect(Receipt.parse(response.headers.get('Payment-Receipt')!).status).toBe('success')
    expect(calls).toEqual({ authorized: 1, committed: 0, released: 0 })
  })

  it('rejects a tampered body with mpp_body_digest_mismatch and a challenge for the new body', async () => {
    const { app, calls } = testApp()
    const unpaid = await app.request('/v1/echo', json(body))
    const tampered = { ...body, model: 'expensive' }
    const response = await app.request('/v1/echo', json(tampered, { Authorization: credentialFor(unpaid, { proof: 'paid' }) }))
    expect(response.status).toBe(402)
    expect(await problem(response)).toMatchObject({ code: 'mpp_body_digest_mismatch', retryable: false })
    const fresh = Challenge.parse(response.headers.get('WWW-Authenticate')!) as Challenge
    expect(fresh.digest).toBe(bodyDigest(new TextEncoder().encode(JSON.stringify(tampered))))
    expect(calls.authorized).toBe(0)
  })

  it('rejects a body added to a challenge issued without one', async () => {
    const { app } = testApp()
    const unpaid = await app.request('/v1/echo', { method: 'POST' })
    expect((Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge).digest).toBeUndefined()
    const response = await app.request('/v1/echo', json(body, { Authorization: credentialFor(unpaid, { proof: 'paid' }) }))
    expect(response.status).toBe(402)
    expect((await problem(response)).code).toBe('mpp_body_digest_mismatch')
  })

  it('rejects a challenge issued for another route with mpp_invalid_challenge', async () => {
    const { app, calls } = testApp()
    const unpaid = await app.request('/v1/other', json(body))
    const response = await app.request('/v1/echo', json(body, { Authorization: credentialFor(unpaid, { proof: 'paid' }) }))
    expect(response.status).toBe(402)
    expect(await problem(response)).toMatchObject({ code: 'mpp_invalid_challenge', detail: 'The challenge was issued for another route.' })
    expect(response.headers.get('WWW-Authenticate')).not.toBeNull()
    expect(calls.authorized).toBe(0)
  })

  it('accepts a credential once: a replay is mpp_invalid_challenge and never reaches the method', async () => {
    const { app, calls } = testApp()
    const unpaid = await app.request('/v1/echo', json(body))
    const authorization = credentialFor(unpaid, { proof: 'paid' })
    const [first, second] = await Promise.all([
      app.request('/v1/echo', json(body, { Authorization: authorization })),
      app.request('/v1/echo', json(body, { Authorization: authorization })),
    ])
    expect([first.status, second.status].sort()).toEqual([200, 402])
    const rejected = first.status === 402 ? first : second
    expect(await problem(rejected)).toMatchObject({ code: 'mpp_invalid_challenge', detail: expect.stringContaining('already used') })
    expect(calls).toEqual({ authorized: 1, committed: 1, released: 0 })
  })

  it('rejects an expired challenge with mpp_challenge_expired (problem type payment-expired) and a fresh challenge', async () => {
    let clock = Date.parse('2030-01-01T00:00:00Z')
    const { app, calls } = testApp({ challengeTtl: 60, now: () => clock })
    const unpaid = await app.request('/v1/echo', json(body))
    expect((Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge).expires).toBe('2030-01-01T00:01:00Z')
    const authorization = credentialFor(unpaid, { proof: 'paid' })
    clock += 59_999
    expect((await app.request('/v1/echo', json(body, { Authorization: authorization }))).status).toBe(200)
    clock += 1
    const response = await app.request('/v1/echo', json(body, { Authorization: authorization }))
    expect(response.status).toBe(402)
    expect(await problem(response)).toMatchObject({
      code: 'mpp_challenge_expired',
      type: 'https://paymentauth.org/problems/payment-expired',
      retryable: true,
    })
    expect(response.headers.get('WWW-Authenticate')).toMatch(/^Payment /)
    expect(calls.authorized).toBe(1)
  })

  it('rejects a credential for another method or intent with mpp_method_unsupported and a fresh challenge', async () => {
    const { app, calls } = testApp()
    const unpaid = await app.request('/v1/echo', json(body))
    for (const change of [{ method: 'tempo' }, { intent: 'session' }]) {
      const response = await app.request(
        '/v1/echo',
        json(body, { Authorization: credentialFor(unpaid, { proof: 'paid' }, (c) => ({ ...c, ...change })) }),
      )
      expect(response.status).toBe(400)
      expect(response.headers.get('WWW-Authenticate')).not.toBeNull()
      expect(await problem(response)).toMatchObject({ code: 'mpp_method_unsupported', retryable: false })
    }
    expect(calls.authorized).toBe(0)
  })

  it.each([
    ['a forged id', (c: Challenge) => ({ ...c, id: computeChallengeId({ ...c, secretKey: 'x'.repeat(32) }) })],
    ['a changed request', (c: Challenge) => ({ ...c, request: base64url.encode('{"amount":"1","currency":"usd","recipient":"acct_1"}') })],
    ['a changed expiry', (c: Challenge) => ({ ...c, expires: '2099-01-01T00:00:00Z' })],
    [
      'a dropped digest',
      (c: Challenge) => {
        const { digest: _, ...rest } = c
        return rest
      },
    ],
    ['a changed opaque', (c: Challenge) => ({ ...c, opaque: base64url.encode('{"route":"POST /v1/echo","x":"y"}') })],
  ])('rejects %s with mpp_invalid_challenge', async (_, change) => {
    const { app, calls } = testApp()
    const unpaid = await app.request('/v1/echo', json(body))
    const response = await app.request('/v1/echo', json(body, { Authorization: credentialFor(unpaid, { proof: 'paid' }, change) }))
    expect(response.status).toBe(402)
    expect((await problem(response)).code).toBe('mpp_invalid_challenge')
    expect(calls.authorized).toBe(0)
  })

  it('rejects a challenge bound for another realm under the same secret', async () => {
    const other = testApp({ realm: 'other.example.com' })
    const { app } = testApp()
    const unpaid = await other.app.request('/v1/echo', json(body))
    const response = await app.request('/v1/echo', json(body, { Authorization: credentialFor(unpaid, { proof: 'paid' }) }))
    expect((await problem(response)).code).toBe('mpp_invalid_challenge')
  })

  it('verifies challenges under every rotated key and signs new ones with the first', async () => {
    const oldKey = secretKey
    const newKey = 'a-brand-new-secret-key-of-32-bytes-or-more'
    const before = testApp({ secretKey: oldKey })
    const after = testApp({ secretKey: [newKey, oldKey] })
    const unpaid = await before.app.request('/v1/echo', json(body))
    const response = await after.app.request('/v1/echo', json(body, { Authorization: credentialFor(unpaid, { proof: 'paid' }) }))
    expect(response.status).toBe(200)
    const fresh = Challenge.parse((await after.app.request('/v1/echo', json(body))).headers.get('WWW-Authenticate')!) as Challenge
    expect(fresh.id).toBe(computeChallengeId({ ...fresh, secretKey: newKey }))
    const retired = testApp({ secretKey: newKey })
    const rejected = await retired.app.request('/v1/echo', json(body, { Authorization: credentialFor(unpaid, { proof: 'paid' }) }))
    expect((await problem(rejected)).code).toBe('mpp_invalid_challenge')
  })

  it.each([
    ['padded', (token: string) => `${token}${'='.repeat((4 - (token.length % 4)) % 4 || 4)}`],
    ['standard-alphabet', (token: string) => Buffer.from(token, 'base64url').toString('base64').replace(/=+$/, '')],
    ['truncated', (token: string) => token.slice(0, 40)],
  ])('answers a %s credential with mpp_malformed_credential', async (_, mangle) => {
    const { app, calls } = testApp()
    // `??>` in the payload makes standard base64 differ from base64url.
    const unpaid = await app.request('/v1/echo', json(body))
    const token = credentialFor(unpaid, { proof: 'paid', note: '??>>??>>' }).slice('Payment '.length)
    const mangled = mangle(token)
    expect(mangled).not.toBe(token)
    const response = await app.request('/v1/echo', json(body, { Authorization: `Payment ${mangled}` }))
    expect(response.status).toBe(402)
    expect(response.headers.get('WWW-Authenticate')).not.toBeNull()
    expect((await problem(response)).code).toBe('mpp_malformed_credential')
    expect(calls.authorized).toBe(0)
  })
})

describe('payment middleware: the next challenge on a paid delivery', () => {
  it('is carried only when the client asks for it (MPP-Next-Challenge): issuing one costs what a 402 does', async () => {
    const { app } = testApp()
    const unpaid = await app.request('/v1/echo', json(body))
    const paid = await app.request('/v1/echo', json(body, { Authorization: credentialFor(unpaid, { proof: 'paid' }) }))
    expect(paid.status).toBe(200)
    expect(paid.headers.get('WWW-Authenticate')).toBeNull()
  })

  it('carries a challenge for the next request: same route, no digest, body any, unique', async () => {
    const { app } = testApp()
    const unpaid = await app.request('/v1/echo', json(body))
    const paid = await app.request(
      '/v1/echo',
      json(body, { 'MPP-Next-Challenge': '1', Authorization: credentialFor(unpaid, { proof: 'paid' }) }),
    )
    expect(paid.status).toBe(200)
    const next = Challenge.parse(paid.headers.get('WWW-Authenticate')!) as Challenge
    expect(next.id).toBe(computeChallengeId({ secretKey, ...next }))
    expect(next.id).not.toBe((Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge).id)
    expect(next.digest).toBeUndefined()
    expect(Challenge.opaque(next)).toEqual({ route: 'POST /v1/echo', nonce: expect.any(String), body: 'any' })
    expect(Challenge.request(next)).toEqual({ amount: '100', currency: 'usd', recipient: 'acct_1' })
  })

  it('pays exactly one delivery of any body on its route: one round trip each, a second use refused', async () => {
    const { app, calls } = testApp()
    const unpaid = await app.request('/v1/echo', json(body))
    let previous = await app.request(
      '/v1/echo',
      json(body, { 'MPP-Next-Challenge': '1', Authorization: credentialFor(unpaid, { proof: 'paid' }) }),
    )
    for (let i = 0; i < 3; i++) {
      const other = { ...body, messages: [{ role: 'user', content: `question ${i}` }] }
      const response = await app.request(
        '/v1/echo',
        json(other, { 'MPP-Next-Challenge': '1', Authorization: credentialFor(previous, { proof: 'paid' }) }),
      )
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ payer: 'alice', body: other })
      const again = await app.request(
        '/v1/echo',
        json(other, { 'MPP-Next-Challenge': '1', Authorization: credentialFor(previous, { proof: 'paid' }) }),
      )
      expect(await problem(again)).toMatchObject({ code: 'mpp_invalid_challenge', detail: expect.stringContaining('already used') })
      previous = response
    }
    expect(calls).toEqual({ authorized: 4, committed: 4, released: 0 })
  })

  it('is bound to its route: another path refuses it', async () => {
    const { app, calls } = testApp()
    const unpaid = await app.request('/v1/echo', json(body))
    const paid = await app.request(
      '/v1/echo',
      json(body, { 'MPP-Next-Challenge': '1', Authorization: credentialFor(unpaid, { proof: 'paid' }) }),
    )
    const response = await app.request(
      '/v1/fetched',
      json(body, { 'MPP-Next-Challenge': '1', Authorization: credentialFor(paid, { proof: 'paid' }) }),
    )
    expect(await problem(response)).toMatchObject({ code: 'mpp_invalid_challenge', detail: 'The challenge was issued for another route.' })
    expect(calls.authorized).toBe(1)
  })

  it('cannot be made from a body-bound challenge: dropping its digest breaks the binding', async () => {
    const { app } = testApp()
    const unpaid = await app.request('/v1/echo', json(body))
    const other = { ...body, model: 'expensive' }
    const response = await app.request(
      '/v1/echo',
      json(other, {
        'MPP-Next-Challenge': '1',
        Authorization: credentialFor(unpaid, { proof: 'paid' }, ({ digest: _, ...rest }) => rest as Challenge),
      }),
    )
    expect(await problem(response)).toMatchObject({ code: 'mpp_invalid_challenge', detail: 'The challenge was not issued by this server.' })
  })

  it('comes only with a delivery: none on a 402, a management answer or a released failure', async () => {
    const { app } = testApp()
    const unpaid = await app.request('/v1/throws', json(body))
    const managed = await app.request(
      '/v1/throws',
      json(body, { 'MPP-Next-Challenge': '1', Authorization: credentialFor(unpaid, { action: 'manage' }) }),
    )
    expect(managed.status).toBe(204)
    expect(managed.headers.get('WWW-Authenticate')).toBeNull()
    const refused = await app.request('/v1/status/404', json(body))
    const failed = await app.request(
      '/v1/status/404',
      json(body, { 'MPP-Next-Challenge': '1', Authorization: credentialFor(refused, { proof: 'paid' }) }),
    )
    expect(failed.status).toBe(404)
    expect(failed.headers.get('Payment-Receipt')).toBeNull()
    expect(failed.headers.get('WWW-Authenticate')).toBeNull()
  })
})

describe('payment middleware: after the handler', () => {
  async function paidRequest(app: Hono, path: string) {
    const unpaid = await app.request(path, json(body))
    return app.request(path, json(body, { Authorization: credentialFor(unpaid, { proof: 'paid' }) }))
  }

  it('releases, charges nothing and renders mpp_internal_error without the message when the handler throws', async () => {
    const { app, calls } = testApp()
    const response = await paidRequest(app, '/v1/throws')
    expect(response.status).toBe(500)
    expect(response.headers.get('Payment-Receipt')).toBeNull()
    const text = await response.text()
    expect(JSON.parse(text)).toMatchObject({ code: 'mpp_internal_error', retryable: true })
    expect(text).not.toContain('boom')
    expect(text).not.toContain(secretKey)
    expect(text).not.toContain('at ')
    expect(calls).toEqual({ authorized: 1, committed: 0, released: 1 })
  })

  it('renders a PaymentError thrown by the handler in the envelope and releases', async () => {
    const { app, calls } = testApp()
    const response = await paidRequest(app, '/v1/payment-error')
    expect(response.status).toBe(400)
    expect((await problem(response)).code).toBe('mpp_request_quote_invalid')
    expect(calls).toEqual({ authorized: 1, committed: 0, released: 1 })
  })

  it.each([404, 500, 502])('passes a %i handler answer through, released and without a receipt', async (status) => {
    const { app, calls } = testApp()
    const response = await paidRequest(app, `/v1/status/${status}`)
    expect(response.status).toBe(status)
    expect(await response.json()).toEqual({ failed: true })
    expect(response.headers.get('Payment-Receipt')).toBeNull()
    expect(calls).toEqual({ authorized: 1, committed: 0, released: 1 })
  })

  it('withholds the content and answers mpp_commit_failed when the commit fails', async () => {
    const { app, calls } = testApp({ method: { commitError: new Error('store down') } })
    const response = await paidRequest(app, '/v1/echo')
    expect(response.status).toBe(503)
    expect(response.headers.get('Payment-Receipt')).toBeNull()
    expect(response.headers.get('Retry-After')).toBe('1')
    const text = await response.text()
    expect(text).not.toContain('alice')
    expect(text).not.toContain('store down')
    expect(JSON.parse(text)).toMatchObject({ code: 'mpp_commit_failed', retryable: true })
    expect(calls).toEqual({ authorized: 1, committed: 0, released: 1 })
  })
})

describe('payment middleware: request ids and options', () => {
  it('echoes a safe client X-Request-Id and replaces an unsafe one, on success and error alike', async () => {
    const { app } = testApp()
    const unpaid = await app.request('/v1/echo', json(body, { 'X-Request-Id': 'client-42' }))
    expect(unpaid.headers.get('X-Request-Id')).toBe('client-42')
    expect((await problem(unpaid)).requestId).toBe('client-42')
    const paid = await app.request(
      '/v1/echo',
      json(body, { 'X-Request-Id': 'client-43', Authorization: credentialFor(unpaid, { proof: 'paid' }) }),
    )
    expect(paid.headers.get('X-Request-Id')).toBe('client-43')
    for (const unsafe of ['<script>', 'a'.repeat(65), 'a b']) {
      const response = await app.request('/v1/echo', json(body, { 'X-Request-Id': unsafe }))
      expect(response.headers.get('X-Request-Id')).toMatch(/^req_[A-Za-z0-9_-]{22}$/)
    }
  })

  it('fails at construction on misconfiguration, naming the option', () => {
    const { method } = testMethod()
    const ports = { challenges: memoryStore(), pricing: fixedPrice(1n) }
    const refused = (options: Partial<Parameters<typeof payment>[0]>, subject: string, rule: RegExp) => {
      const build = () => payment({ realm: 'r', secretKey, method, ...ports, ...options })
      expect(build).toThrow(ConfigError)
      expect(build).toThrow(expect.objectContaining({ subject, rule: expect.stringMatching(rule) }))
    }
    refused({ secretKey: 'short' }, 'payment.secretKey.0', /32 bytes/)
    refused({ secretKey: [] }, 'payment.secretKey', /32 bytes/)
    refused({ secretKey: [secretKey, 'short'] }, 'payment.secretKey.1', /32 bytes/)
    refused({ realm: '' }, 'payment.realm', /non-empty/)
    refused({ realm: 'a\r\nb' }, 'payment.realm', /control characters/)
    refused({ method: { ...method, name: 'Test' } }, 'payment.method.0.name', /lowercase/)
    refused({ method: [] }, 'payment.method', /at least one/)
    refused({ credentialHeader: 'X-Payment' as never }, 'payment.credentialHeader', /Payment-Authorization/)
    refused({ challengeTtl: 0 }, 'payment.challengeTtl', /integer ≥ 1/)
    // No silent per-process default: single use must hold across instances.
    refused({ challenges: undefined as never }, 'payment.challenges', /consumeChallenge/)
    refused({ pricing: undefined as never }, 'payment.pricing', /function/)
  })
})
