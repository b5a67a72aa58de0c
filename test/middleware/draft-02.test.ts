// Draft-02 of the Payment scheme on the server: the `header` parameter and the
// `Payment-Authorization` field, caching of answers to credentials, expired
// challenges, and `Accept-Payment` choosing and ordering a route's challenges.
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { payment } from '../../src/middleware/payment.js'
import { fixedPrice } from '../../src/payment/pricing.js'
import { Challenge, computeChallengeId } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { memoryStore } from '../../src/stores/memory.js'
import { json, secretKey, testApp, testMethod } from '../support/test-method.js'

const body = { prompt: 'hi' }
const problem = async (response: Response) => (await response.json()) as Record<string, unknown>

describe('credentials in Payment-Authorization', () => {
  const { app } = testApp({ credentialHeader: 'Payment-Authorization' })

  it('selects the field with the header parameter, bound into the challenge id', async () => {
    const unpaid = await app.request('/v1/echo', json(body))
    const challenge = Challenge.parse(unpaid.headers.get('WWW-Authenticate')!)
    expect(challenge.header).toBe('Payment-Authorization')
    expect(challenge.id).toBe(computeChallengeId({ secretKey, ...challenge }))
    expect(computeChallengeId({ secretKey, ...challenge, header: undefined })).not.toBe(challenge.id)
  })

  it('pays from Payment-Authorization, leaving Authorization to the route, and answers private', async () => {
    const unpaid = await app.request('/v1/echo', json(body))
    const credential = Credential.format({
      challenge: Challenge.parse(unpaid.headers.get('WWW-Authenticate')!),
      payload: { proof: 'paid' },
    })
    const paid = await app.request('/v1/echo', json(body, { 'Payment-Authorization': credential, Authorization: 'Bearer route-own-token' }))
    expect(paid.status).toBe(200)
    expect(paid.headers.get('Payment-Receipt')).not.toBeNull()
    expect(paid.headers.get('Cache-Control')).toBe('private')
  })

  it('never takes a credential from the field its challenge did not select', async () => {
    const unpaid = await app.request('/v1/echo', json(body))
    const credential = Credential.format({
      challenge: Challenge.parse(unpaid.headers.get('WWW-Authenticate')!),
      payload: { proof: 'paid' },
    })
    const misplaced = await app.request('/v1/echo', json(body, { Authorization: credential }))
    expect(misplaced.status).toBe(402)
    expect(await problem(misplaced)).toMatchObject({
      code: 'mpp_malformed_credential',
      detail: expect.stringMatching(/Payment-Authorization/),
    })
    const both = await app.request('/v1/echo', json(body, { Authorization: credential, 'Payment-Authorization': credential }))
    expect(both.status).toBe(400)
    expect(await problem(both)).toMatchObject({ code: 'mpp_multiple_credentials' })
    expect(both.headers.get('Cache-Control')).toBe('no-store')
  })

  it('refuses a challenge that selects Authorization when the route takes Payment-Authorization', async () => {
    const { app: plain } = testApp()
    const unpaid = await plain.request('/v1/echo', json(body))
    // A challenge from a configuration that used Authorization, echoed in Payment-Authorization.
    const credential = Credential.format({
      challenge: Challenge.parse(unpaid.headers.get('WWW-Authenticate')!),
      payload: { proof: 'paid' },
    })
    const response = await app.request('/v1/echo', json(body, { 'Payment-Authorization': credential }))
    expect(await problem(response)).toMatchObject({ code: 'mpp_invalid_challenge' })
  })

  it('makes every answer to a request carrying Payment-Authorization private or no-store, the route’s errors too', async () => {
    const unpaid = await app.request('/v1/status/404', json(body))
    const credential = Credential.format({
      challenge: Challenge.parse(unpaid.headers.get('WWW-Authenticate')!),
      payload: { proof: 'paid' },
    })
    const released = await app.request('/v1/status/404', json(body, { 'Payment-Authorization': credential }))
    expect(released.status).toBe(404)
    expect(released.headers.get('Cache-Control')).toBe('private')
  })
})

describe('receipts are private', () => {
  it('adds private to what the route set, and drops public', async () => {
    const challenges = memoryStore()
    const { method } = testMethod()
    const paid = payment({ realm: 'api.example.com', secretKey, method, challenges, pricing: fixedPrice(1n), logger: () => {} })
    const app = new Hono()
    app.post('/cached', paid, (c) => c.json({ ok: true }, 200, { 'Cache-Control': 'public, max-age=60' }))
    const unpaid = await app.request('/cached', json(body))
    const credential = Credential.format({
      challenge: Challenge.parse(unpaid.headers.get('WWW-Authenticate')!),
      payload: { proof: 'paid' },
    })
    const response = await app.request('/cached', json(body, { Authorization: credential }))
    expect(response.headers.get('Cache-Control')).toBe('private, max-age=60')
  })
})

describe('Accept-Payment', () => {
  // Two methods on one route, in the server's order of preference.
  const first = testMethod()
  const second = { ...testMethod().method, name: 'other', intent: 'session' }
  const paid = payment({
    realm: 'api.example.com',
    secretKey,
    method: [first.method, second],
    challenges: memoryStore(),
    pricing: fixedPrice(1n),
    logger: () => {},
  })
  const app = new Hono()
  app.post('/v1/two', paid, (c) => c.json({ ok: true }))
  const offered = async (acceptPayment?: string) => {
    const response = await app.request('/v1/two', json(body, acceptPayment === undefined ? {} : { 'Accept-Payment': acceptPayment }))
    return Challenge.parseAll(response.headers.get('WWW-Authenticate')!).map((challenge) => `${challenge.method}/${challenge.intent}`)
  }

  it('offers every method in the server’s order when the client states no preference, or an unreadable one', async () => {
    expect(await offered()).toEqual(['test/charge', 'other/session'])
    expect(await offered('tempo session;q=2')).toEqual(['test/charge', 'other/session'])
  })

  it('filters and orders the challenges by the client’s weights', async () => {
    expect(await offered('other/session, test/charge;q=0.5')).toEqual(['other/session', 'test/charge'])
    expect(await offered('*/session')).toEqual(['other/session'])
    expect(await offered('test/*, other/*;q=0')).toEqual(['test/charge'])
  })

  it('falls back to the whole set when the client accepts none of them, as the draft allows', async () => {
    expect(await offered('stripe/charge')).toEqual(['test/charge', 'other/session'])
  })

  it('sends each credential to the method whose challenge it answers', async () => {
    const response = await app.request('/v1/two', json(body, { 'Accept-Payment': 'other/session' }))
    const challenge = Challenge.parse(response.headers.get('WWW-Authenticate')!)
    const credential = Credential.format({ challenge, payload: { proof: 'paid' } })
    expect((await app.request('/v1/two', json(body, { Authorization: credential }))).status).toBe(200)
    const unknown = Credential.format({ challenge: { ...challenge, method: 'lightning' }, payload: { proof: 'paid' } })
    const refused = await app.request('/v1/two', json(body, { Authorization: unknown }))
    expect(await problem(refused)).toMatchObject({
      code: 'mpp_method_unsupported',
      detail: expect.stringMatching(/test\/charge, other\/session/),
    })
  })
})
