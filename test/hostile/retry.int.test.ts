// Retryable answers keep the challenge: an upstream 429 or 503 is answered as
// retryable, charges nothing and gives the consumed challenge back, so the
// identical request (same body, same credential), retried as the OpenAI SDK
// does, is served and charged once; a third send of that credential is a
// replay and is refused.
import { beforeEach, describe, expect, it } from 'vitest'
import { upstreamErrorSpec } from '../../src/chat/upstream-error.js'
import {
  challengeFor,
  chargeOf,
  chatBody,
  credential,
  expectProblem,
  newPayer,
  openChannel,
  post,
  receiptOf,
  send,
  snapshot,
  stateOf,
  upstream,
  voucher,
} from './support.js'
import { models } from './target.js'

// `once:` directives fire once per upstream lifetime: rearm them.
beforeEach(() => upstream.reset())

describe.each([
  {
    failure: 'an upstream 429',
    model: models.rateLimitedOnce,
    code: 'upstream_rate_limited',
    // The upstream's Retry-After (1 s) passed on.
    spec: upstreamErrorSpec({ code: 'upstream_rate_limited', status: 429, retryable: true, retryAfter: 1 }),
  },
  {
    failure: 'an upstream 503',
    model: models.unavailableOnce,
    code: 'upstream_503',
    spec: upstreamErrorSpec({ code: 'upstream_503', status: 502, retryable: true }),
  },
] as const)('$failure', ({ model, code, spec }) => {
  it('is retryable and charges nothing; the identical retry is served and charged once; a third send is a replay', async () => {
    const channel = await openChannel(await newPayer(), 1_000_000n, 100_000n)
    const body = chatBody(model, 'Tell me about vouchers.')
    const authorization = credential(await challengeFor(post(body)), await voucher(channel, 100_000n))
    const before = await snapshot(channel)

    const failed = await send(post(body), authorization)
    await expectProblem(failed, code, { spec })
    // The upstream was asked once and nothing moved.
    expect(await snapshot(channel)).toEqual({ ...before, calls: before.calls + 1 })

    const served = await send(post(body), authorization)
    expect(served.status).toBe(200)
    const charge = chargeOf(((await served.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage)
    expect(charge).toBe(10n * 10n + 5n * 20n)
    expect(receiptOf(served)).toMatchObject({ spent: charge.toString(), acceptedCumulative: '100000' })

    const replayed = await send(post(body), authorization)
    expect((await expectProblem(replayed, 'mpp_invalid_challenge')).detail).toMatch(/already used/)
    expect(await stateOf(channel)).toEqual({ spent: charge, acceptedCumulative: 100_000n })
    expect(await upstream.calls()).toBe(before.calls + 2)
  })
})
