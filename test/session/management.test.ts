// Management requests: HEAD, GET and a bodiless POST on a paid resource carry
// vouchers, topUps and closes (session spec §Voucher Submission Transport).
// They are never priced and never served; each is answered with a receipt.
// The challenge rule: a challenge pays for one delivery of content; a
// management action, whose own proof is single use, may come on a challenge
// that already paid, for the same resource, whatever body it was bound to.
import { describe, expect, it } from 'vitest'
import { Challenge } from '../../src/protocol/challenge.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { engineFixture, problem, type Shape } from '../support/engine.js'

const head: Shape = { method: 'HEAD' }
const get: Shape = { method: 'GET' }
const bodiless: Shape = { method: 'POST' }
const content: Shape = { method: 'POST', body: '{"prompt":"hi"}' }

describe('management requests on a paid resource', () => {
  it.each([
    ['HEAD', head],
    ['GET', get],
    ['a bodiless POST', bodiless],
  ])('answers %s without a credential with a 402 whose challenge is valid for it, quoting nothing', async (_, shape) => {
    const f = engineFixture()
    const challenge = await f.challengeFor(shape)
    expect(challenge.digest).toBeUndefined()
    expect(Challenge.opaque(challenge)?.route).toBe(`${shape.method} /v1/paid`)
    expect(Challenge.request(challenge)).toMatchObject({ amount: '0', unitType: 'request' })
    // And that challenge carries a voucher top-up on this very request.
    const { channelId, payload } = await f.openPayload()
    expect((await f.pay(payload)).status).toBe(200)
    const topUp = await f.pay(await f.voucher(channelId, 20_000n), shape, challenge)
    expect(topUp.status).toBe(200)
    expect(Receipt.parse(topUp.headers.get('Payment-Receipt')!)).toMatchObject({ acceptedCumulative: '20000', spent: '1000' })
  })

  it.each([
    ['HEAD', head],
    ['GET', get],
    ['a bodiless POST', bodiless],
  ])('accepts a voucher on %s with a receipt, serving and charging nothing', async (_, shape) => {
    const f = engineFixture()
    const { channelId, payload } = await f.openPayload()
    await f.pay(payload)
    const served = f.served()
    const response = await f.pay(await f.voucher(channelId, 30_000n), shape)
    expect(response.status).toBe(200)
    expect(f.served()).toBe(served)
    expect(await f.store.getChannel(channelId)).toMatchObject({ acceptedCumulative: 30_000n, spent: 1_000n })
  })

  it('opens a channel on HEAD and answers with its receipt, never an error after the state changed', async () => {
    const f = engineFixture()
    const { channelId, payload } = await f.openPayload()
    const response = await f.pay(payload, head)
    expect(response.status).toBe(200)
    expect(Receipt.parse(response.headers.get('Payment-Receipt')!)).toMatchObject({ channelId, spent: '0', acceptedCumulative: '10000' })
    expect(f.book.channels.get(channelId)?.deposit).toBe(100_000n)
    expect(f.served()).toBe(0)
  })

  it('takes a topUp and a close on a bodiless POST, as the published mppx client sends them', async () => {
    const f = engineFixture()
    const { channelId, payload } = await f.openPayload()
    await f.pay(payload)
    const topUp = await f.pay(await f.topUpPayload(channelId, 50_000n), bodiless)
    expect(topUp.status).toBe(200)
    expect(f.book.channels.get(channelId)?.deposit).toBe(150_000n)
    const close = await f.pay(await f.voucher(channelId, 1_000n, 'close'), bodiless)
    expect(close.status).toBe(200)
    expect(Receipt.parse(close.headers.get('Payment-Receipt')!)).toMatchObject({ spent: '1000', txHash: expect.stringMatching(/^0x/) })
    expect(f.book.payouts).toEqual([{ channelId, amount: 1_000n, refund: 149_000n }])
  })
})

describe('challenge reuse', () => {
  it('lets a challenge pay for content once: the same challenge again is refused', async () => {
    const f = engineFixture()
    const { channelId, payload } = await f.openPayload()
    await f.pay(payload)
    const challenge = await f.challengeFor(content)
    const voucher = await f.voucher(channelId, 10_000n)
    expect((await f.pay(voucher, content, challenge)).status).toBe(200)
    const again = await f.pay(voucher, content, challenge)
    expect(again.status).toBe(402)
    expect(await problem(again)).toMatchObject({ code: 'mpp_invalid_challenge', detail: expect.stringMatching(/already used/) })
    expect((await f.store.getChannel(channelId))?.spent).toBe(2_000n)
  })

  it('lets management actions come on a challenge that already paid for content, bound to another body, on the same resource', async () => {
    const f = engineFixture()
    const { channelId, payload } = await f.openPayload()
    // The challenge that paid the open (content, a body digest bound into it) carries every later management action.
    const challenge = await f.challengeFor(content)
    expect((await f.pay(payload, content, challenge)).status).toBe(200)
    expect(challenge.digest).toMatch(/^sha-256=/)
    expect((await f.pay(await f.voucher(channelId, 40_000n), bodiless, challenge)).status).toBe(200)
    expect((await f.pay(await f.topUpPayload(channelId, 10_000n), head, challenge)).status).toBe(200)
    expect((await f.pay(await f.voucher(channelId, 1_000n, 'close'), bodiless, challenge)).status).toBe(200)
    expect(await f.store.getChannel(channelId)).toMatchObject({ acceptedCumulative: 40_000n, finalized: true })
  })

  it('still refuses a management action on a challenge for another resource, another realm or one past its expiry', async () => {
    const f = engineFixture()
    const { channelId, payload } = await f.openPayload()
    await f.pay(payload)
    const voucher = await f.voucher(channelId, 20_000n)
    const otherResource = await f.challengeFor({ ...bodiless, path: '/v1/other' })
    expect(await problem(await f.pay(voucher, bodiless, otherResource))).toMatchObject({
      code: 'mpp_invalid_challenge',
      detail: expect.stringMatching(/another route/),
    })
    const challenge = await f.challengeFor(bodiless)
    const secretKey = 'engine-test-secret-key-at-least-32-bytes'
    const otherRealm = Challenge.create({ ...challenge, secretKey, realm: 'elsewhere.test' })
    expect(await problem(await f.pay(voucher, bodiless, otherRealm))).toMatchObject({
      code: 'mpp_invalid_challenge',
      detail: expect.stringMatching(/another realm/),
    })
    const expired = Challenge.create({ ...challenge, secretKey, expires: '2020-01-01T00:00:00Z' })
    expect(await problem(await f.pay(voucher, bodiless, expired))).toMatchObject({ code: 'mpp_challenge_expired' })
    expect((await f.store.getChannel(channelId))?.acceptedCumulative).toBe(10_000n)
  })

  it('answers a topUp on a challenge it never issued with the session problem type challenge-not-found', async () => {
    const f = engineFixture()
    const { channelId, payload } = await f.openPayload()
    await f.pay(payload)
    const challenge = await f.challengeFor(bodiless)
    const unknown = { ...challenge, id: `${challenge.id.slice(0, -2)}AA` }
    const response = await f.pay(await f.topUpPayload(channelId, 10_000n), bodiless, unknown)
    expect(response.status).toBe(402)
    expect(await problem(response)).toMatchObject({
      code: 'mpp_invalid_challenge',
      type: 'https://paymentauth.org/problems/session/challenge-not-found',
    })
    expect(f.book.channels.get(channelId)?.deposit).toBe(100_000n)
  })
})

describe('close for a client that over-authorized (v1)', () => {
  it('answers a close voucher above what was spent with a 402 naming exactly the amount to sign, then closes on it', async () => {
    const f = engineFixture()
    const { channelId, payload } = await f.openPayload(100_000n, 50_000n)
    await f.pay(payload)
    // The published mppx client signs its close for max(spent, acceptedCumulative).
    const refused = await f.pay(await f.voucher(channelId, 50_000n, 'close'), bodiless)
    expect(refused.status).toBe(402)
    expect(refused.headers.get('WWW-Authenticate')).toMatch(/^Payment /)
    expect(await problem(refused)).toMatchObject({
      code: 'mpp_payment_verification_failed',
      requiredCumulative: '1000',
      detail: expect.stringMatching(/exactly 1000/),
    })
    expect(f.book.payouts).toEqual([])
    const closed = await f.pay(await f.voucher(channelId, 1_000n, 'close'), bodiless)
    expect(closed.status).toBe(200)
    expect(f.book.payouts).toEqual([{ channelId, amount: 1_000n, refund: 99_000n }])
  })
})
