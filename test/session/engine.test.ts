// The session engine without a web framework and without a chain (the
// in-memory escrow): fast, so it drives the failure paths a real chain makes
// hard to reach on demand: the RPC down, a revert, a timeout.
import { describe, expect, it } from 'vitest'
import { Receipt } from '../../src/protocol/receipt.js'
import { engineFixture, problem } from '../support/engine.js'

describe('session engine on the framework-free handler, in-memory escrow', () => {
  it('opens, serves, commits and answers with a receipt; a voucher in the bucket pays without the chain', async () => {
    const { book, store, pay, openPayload, voucher } = engineFixture()
    const { channelId, payload } = await openPayload()
    const opened = await pay(payload)
    expect(opened.status).toBe(200)
    expect(Receipt.parse(opened.headers.get('Payment-Receipt')!)).toMatchObject({ channelId, spent: '1000', acceptedCumulative: '10000' })
    expect(book.channels.get(channelId)?.deposit).toBe(100_000n)

    const reads = book.calls.getChannel
    const paid = await pay(await voucher(channelId, 10_000n))
    expect(paid.status).toBe(200)
    expect(Receipt.parse(paid.headers.get('Payment-Receipt')!)).toMatchObject({ spent: '2000' })
    expect(book.calls.getChannel).toBe(reads)
    expect(await store.getChannel(channelId)).toMatchObject({ spent: 2_000n, reservations: {} })
  })

  it("charges at most the quote when the handler reports more, with the quote's units in the receipt and a quote_shortfall event", async () => {
    const { store, pay, openPayload, voucher, reportCost, logs } = engineFixture()
    const { channelId, payload } = await openPayload()
    expect((await pay(payload)).status).toBe(200)
    reportCost({ amount: 2_500n, units: 2_500 })
    const paid = await pay(await voucher(channelId, 10_000n))
    expect(paid.status).toBe(200)
    // The quote (fixed price 1,000, one request unit) is what was paid for.
    expect(Receipt.parse(paid.headers.get('Payment-Receipt')!)).toMatchObject({ spent: '2000', units: 1 })
    expect((await store.getChannel(channelId))?.spent).toBe(2_000n)
    expect(logs.at(-1)).toMatchObject({
      code: 'paid',
      events: ['quote_shortfall'],
      amounts: { charged: '1000', cost: '2500', shortfall: '1500' },
    })
    // Within the quote: the handler's units, no event.
    reportCost({ amount: 400n, units: 4 })
    const cheap = await pay(await voucher(channelId, 10_000n))
    expect(Receipt.parse(cheap.headers.get('Payment-Receipt')!)).toMatchObject({ spent: '2400', units: 4 })
    expect(logs.at(-1)?.events).toBeUndefined()
  })

  it('answers 503 mpp_chain_unavailable when the RPC is down during an open, and accepts nothing', async () => {
    const { book, store, pay, openPayload } = engineFixture()
    const { channelId, payload } = await openPayload()
    book.fail('getChannel', 'unavailable')
    const response = await pay(payload)
    expect(response.status).toBe(503)
    expect(response.headers.get('Retry-After')).toBe('2')
    expect((await problem(response)).code).toBe('mpp_chain_unavailable')
    expect(book.calls.broadcast).toBe(0)
    expect(await store.getChannel(channelId)).toBeUndefined()
    // The same open, retried on a fresh challenge, goes through.
    expect((await pay(payload)).status).toBe(200)
  })

  it('gives back the challenge of a retryable answer: the identical request, retried, is served', async () => {
    const { book, pay, openPayload, challengeFor } = engineFixture()
    const { payload } = await openPayload()
    const challenge = await challengeFor()
    book.fail('getChannel', 'unavailable')
    const unavailable = await pay(payload, undefined, challenge)
    expect(unavailable.status).toBe(503)
    expect(await problem(unavailable)).toMatchObject({ code: 'mpp_chain_unavailable', retryable: true })
    // Same challenge, same credential, same body: what a client (or the OpenAI SDK) retries after Retry-After.
    const retried = await pay(payload, undefined, challenge)
    expect(retried.status).toBe(200)
    // Served once, the challenge is spent.
    expect((await problem(await pay(payload, undefined, challenge))).detail).toMatch(/already used/)
  })

  it('keeps the challenge of a refusal that is not retryable spent', async () => {
    const { book, pay, openPayload, challengeFor } = engineFixture()
    const { payload } = await openPayload()
    const challenge = await challengeFor()
    book.fail('broadcast', 'revert')
    expect((await problem(await pay(payload, undefined, challenge))).code).toBe('mpp_payment_verification_failed')
    expect((await problem(await pay(payload, undefined, challenge))).detail).toMatch(/already used/)
  })

  it('refuses an open whose transaction reverts, with the channel neither on chain nor in the store', async () => {
    const { book, store, pay, openPayload } = engineFixture()
    const { channelId, payload } = await openPayload()
    book.fail('broadcast', 'revert')
    const response = await pay(payload)
    expect(response.status).toBe(402)
    expect((await problem(response)).code).toBe('mpp_payment_verification_failed')
    expect(response.headers.get('WWW-Authenticate')).toMatch(/^Payment /)
    expect(book.channels.has(channelId)).toBe(false)
    expect(await store.getChannel(channelId)).toBeUndefined()
  })

  it('answers a broadcast that times out with a retryable 503; the retry picks up the channel', async () => {
    const { book, pay, openPayload } = engineFixture()
    const { payload } = await openPayload()
    book.fail('broadcast', 'timeout')
    const timedOut = await pay(payload)
    expect(timedOut.status).toBe(503)
    expect(await problem(timedOut)).toMatchObject({ code: 'mpp_chain_unavailable', detail: expect.stringMatching(/not confirmed/) })
    expect((await pay(payload)).status).toBe(200)
  })

  it('refuses a voucher above the cached deposit with 503 when the chain cannot be re-read, advancing nothing', async () => {
    const { book, store, pay, openPayload, voucher } = engineFixture()
    const { channelId, payload } = await openPayload()
    await pay(payload)
    book.fail('getChannel', 'unavailable')
    const response = await pay(await voucher(channelId, 150_000n))
    expect((await problem(response)).code).toBe('mpp_chain_unavailable')
    expect((await store.getChannel(channelId))?.acceptedCumulative).toBe(10_000n)
  })

  it('keeps the channel usable when the close transaction reverts, and closes on the retry', async () => {
    const { book, store, pay, openPayload, voucher } = engineFixture()
    const { channelId, payload } = await openPayload()
    await pay(payload)
    book.fail('close', 'revert')
    const failed = await pay(await voucher(channelId, 1_000n, 'close'))
    expect(failed.status).toBe(502)
    expect((await problem(failed)).code).toBe('mpp_session_close_failed')
    expect(await store.getChannel(channelId)).toMatchObject({ closing: false, finalized: false })
    expect((await pay(await voucher(channelId, 10_000n))).status).toBe(200)

    const closed = await pay(await voucher(channelId, 2_000n, 'close'))
    expect(closed.status).toBe(200)
    expect(Receipt.parse(closed.headers.get('Payment-Receipt')!)).toMatchObject({ spent: '2000', txHash: expect.stringMatching(/^0x/) })
    expect(book.payouts).toEqual([{ channelId, amount: 2_000n, refund: 98_000n }])
  })

  it('settles in the background past the threshold; a failed settlement reaches onBackgroundError, never the response', async () => {
    const { book, pay, openPayload, voucher, backgroundErrors } = engineFixture({ settleThreshold: 1_000n })
    // The opening voucher (1,000) is at or below spent after the first request: it is what can be settled.
    const { channelId, payload } = await openPayload(100_000n, 1_000n)
    book.fail('settle', 'unavailable')
    expect((await pay(payload)).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(backgroundErrors).toHaveLength(1)
    expect(backgroundErrors[0]).toMatchObject({ code: 'mpp_chain_unavailable' })
    expect((await pay(await voucher(channelId, 2_000n))).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(book.payouts.map((payout) => payout.amount)).toEqual([2_000n])
  })
})
