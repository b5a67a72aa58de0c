import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { chatPricing } from '../../src/chat/pricing.js'
import { SessionClientError } from '../../src/client/errors.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { reservedOf } from '../../src/session/channel.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { bucketSize, catalogue, chatRequest, completionsUrl, startGatewayFixture } from '../support/gateway.js'

let gateway: Awaited<ReturnType<typeof startGatewayFixture>>
beforeAll(async () => {
  gateway = await startGatewayFixture()
})
afterAll(async () => {
  await gateway?.stop()
})
beforeEach(async () => {
  await gateway.upstream.reset()
})

const receiptOf = (response: Response) => Receipt.parse(response.headers.get('Payment-Receipt')!)
const problemOf = async (response: Response) => (await response.json()) as Record<string, string>
const channelState = async (payer: ReturnType<typeof gateway.payer>) => (await gateway.store.getChannel(payer.channel().channelId))!
/** The answer the client gave up on (a 429 or 503 it would otherwise wait out), or the one it returned. */
const answerOf = (pending: Promise<Response>) =>
  pending.catch((error: unknown) => {
    if (error instanceof SessionClientError && error.code === 'retry_exhausted' && error.response) return error.response
    throw error
  })

/** Sends a chat request with a hand-made voucher credential answering a fresh challenge. */
async function withVoucher(
  payer: ReturnType<typeof gateway.payer>,
  model: string,
  amount: bigint,
  options: Parameters<typeof chatRequest>[1] = {},
) {
  const request = chatRequest(model, options)
  const unpaid = await gateway.fetch(completionsUrl, request)
  const challenge = Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge
  const { channelId, escrow, chainId } = payer.channel()
  const signature = await signVoucher(payer.account, { chainId, escrow }, { channelId, cumulativeAmount: amount })
  const payload = { action: 'voucher', channelId, cumulativeAmount: amount.toString(), signature }
  return { request, challenge, authorization: Credential.format({ challenge, payload }) }
}

describe('paid chat completions: charging', () => {
  it('charges exactly usage × price, in the receipt and in the store', async () => {
    const payer = gateway.payer(5)
    const response = await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))
    expect(response.status).toBe(200)
    const completion = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }
    expect(completion.usage).toMatchObject({ prompt_tokens: 40, completion_tokens: 60 })
    const charge = 40n * 10n + 60n * 20n
    expect(receiptOf(response)).toMatchObject({ spent: charge.toString(), units: 100, acceptedCumulative: bucketSize.toString() })
    // v2's snapshot headers (test/gateway/v2-snapshot.int.test.ts) are never sent for a v1 channel.
    expect(response.headers.has('Payment-Session')).toBe(false)
    expect(response.headers.has('Payment-Session-Snapshot')).toBe(false)
    expect((await channelState(payer)).spent).toBe(charge)
  })

  it('pays requests inside the accepted bucket without a new voucher', async () => {
    const payer = gateway.payer(6)
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const { signature, signedCumulative } = payer.channel()
    for (let i = 0; i < 3; i++)
      expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60', { content: `question ${i}` }))).status).toBe(200)
    expect(payer.channel()).toMatchObject({ signature, signedCumulative })
    expect(await channelState(payer)).toMatchObject({ acceptedCumulative: bucketSize, spent: 4n * 1_600n })
  })

  it('asks for the next bucket when a request crosses the boundary, and accepts it', async () => {
    const payer = gateway.payer(7)
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const { request, authorization } = await withVoucher(payer, 'usage:100,4500', bucketSize, { maxTokens: 4_950 })
    const refused = await gateway.fetch(completionsUrl, { ...request, headers: { ...request.headers, Authorization: authorization } })
    expect(refused.status).toBe(402)
    const problem = await problemOf(refused)
    const fresh = Challenge.parse(refused.headers.get('WWW-Authenticate')!) as Challenge
    // 1600 spent + a quote of about 99,200 does not fit 100,000: the next whole bucket is 200,000.
    expect(problem).toMatchObject({
      code: 'mpp_voucher_bucket_refresh_required',
      requiredCumulative: '200000',
      acceptedCumulative: '100000',
      retryable: true,
    })
    expect((Challenge.request(fresh).methodDetails as Record<string, string>).requiredCumulative).toBe('200000')
    const paid = await payer.client.fetch(completionsUrl, chatRequest('usage:100,4500', { maxTokens: 4_950 }))
    expect(paid.status).toBe(200)
    expect(receiptOf(paid)).toMatchObject({ acceptedCumulative: '200000', spent: (1_600n + 100n * 10n + 4_500n * 20n).toString() })
  })

  it('asks for a top-up when the request costs more than the deposit, then serves it', async () => {
    const payer = gateway.payer(8, 1_000_000n)
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const { request, authorization } = await withVoucher(payer, 'usage:10,10', bucketSize, { maxTokens: 60_000 })
    const refused = await gateway.fetch(completionsUrl, { ...request, headers: { ...request.headers, Authorization: authorization } })
    expect(refused.status).toBe(402)
    const problem = await problemOf(refused)
    expect(problem).toMatchObject({ code: 'mpp_session_deposit_below_request_cost', deposit: '1000000' })
    // requiredTopUp has the session spec's meaning: what the accepted vouchers still lack (cost − available).
    expect(BigInt(problem.requiredTopUp!)).toBe(BigInt(problem.requiredCumulative!) - BigInt(problem.acceptedCumulative!))
    expect(BigInt(problem.suggestedDeposit!)).toBeGreaterThanOrEqual(BigInt(problem.requiredCumulative!))
    const paid = await payer.client.fetch(completionsUrl, chatRequest('usage:10,10', { maxTokens: 60_000 }))
    expect(paid.status).toBe(200)
    // The client topped the deposit up to the cumulative amount the request needed.
    expect((await gateway.escrow.getChannel(payer.channel().channelId))!.deposit).toBe(BigInt(problem.requiredCumulative!))
  })
})

describe('paid chat completions: failures are never charged', () => {
  it.each([
    ['an upstream 500', 'fail:500', 502, 'upstream_500'],
    ['an upstream timeout', 'stall:5000', 504, 'upstream_timeout'],
    ['an upstream rate limit', 'fail:429', 429, 'upstream_rate_limited'],
  ])('%s: released, no receipt, the upstream error in the envelope', async (_, model, status, code) => {
    // Not waiting out a 429: the test reads the answer itself.
    const payer = gateway.payer(9, undefined, { retry: { maxRetries: 0 } })
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const before = await channelState(payer)
    const response = await answerOf(payer.client.fetch(completionsUrl, chatRequest(model)))
    expect(response.status).toBe(status)
    expect(response.headers.get('Payment-Receipt')).toBeNull()
    expect(await problemOf(response)).toMatchObject({ code })
    if (status === 429) expect(response.headers.get('Retry-After')).toBe('7')
    const after = await channelState(payer)
    expect({ spent: after.spent, reserved: reservedOf(after) }).toEqual({ spent: before.spent, reserved: 0n })
  })

  it('a client abort: released, nothing charged', async () => {
    const payer = gateway.payer(9)
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const before = await channelState(payer)
    const abort = new AbortController()
    const pending = payer.client.fetch(completionsUrl, chatRequest('stall:600', { signal: abort.signal }))
    await expect.poll(() => gateway.upstream.calls(), { interval: 10 }).toBeGreaterThanOrEqual(2)
    abort.abort()
    const response = await pending
    expect(response.headers.get('Payment-Receipt')).toBeNull()
    const after = await channelState(payer)
    expect({ spent: after.spent, reserved: reservedOf(after) }).toEqual({ spent: before.spent, reserved: 0n })
  })

  it('a failed commit: mpp_commit_failed, content withheld, no receipt, nothing charged', async () => {
    // Not retrying the 503: the test reads it.
    const payer = gateway.payer(9, undefined, { retry: { maxRetries: 0 } })
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const before = await channelState(payer)
    gateway.failNextCommit()
    const response = await answerOf(payer.client.fetch(completionsUrl, chatRequest('usage:40,60')))
    expect(response.status).toBe(503)
    expect(response.headers.get('Payment-Receipt')).toBeNull()
    const body = await response.text()
    expect(JSON.parse(body)).toMatchObject({ code: 'mpp_commit_failed', retryable: true })
    expect(body).not.toContain('choices')
    const after = await channelState(payer)
    expect({ spent: after.spent, reserved: reservedOf(after) }).toEqual({ spent: before.spent, reserved: 0n })
  })
})

describe('paid chat completions: requests', () => {
  it.each([
    ['a zero token limit', { max_tokens: 0 }],
    ['a negative token limit', { max_tokens: -1 }],
    ['a non-integer token limit', { max_tokens: 1.5 }],
    ['a token limit above the model maximum', { max_tokens: 101 }],
    ['no messages', { messages: [] }],
  ])('answers %s with mpp_request_quote_invalid and no challenge', async (_, change) => {
    const response = await gateway.fetch(completionsUrl, {
      method: 'POST',
      body: JSON.stringify({ model: 'usage:40,60', messages: [{ role: 'user', content: 'hi' }], ...change }),
    })
    expect(response.status).toBe(400)
    expect(response.headers.get('WWW-Authenticate')).toBeNull()
    expect(await problemOf(response)).toMatchObject({ code: 'mpp_request_quote_invalid', retryable: false })
  })

  it('answers an unparseable body with mpp_request_quote_invalid', async () => {
    const response = await gateway.fetch(completionsUrl, { method: 'POST', body: '{"model":' })
    expect(await problemOf(response)).toMatchObject({ code: 'mpp_request_quote_invalid' })
  })

  it('answers an unknown model with 404 model_not_found in the same envelope', async () => {
    const response = await gateway.fetch(completionsUrl, chatRequest('gpt-unknown'))
    expect(response.status).toBe(404)
    expect(await problemOf(response)).toMatchObject({
      code: 'model_not_found',
      retryable: false,
      error: expect.objectContaining({ code: 'model_not_found' }),
    })
  })

  it('answers a streaming request with mpp_streaming_unavailable', async () => {
    const response = await gateway.fetch(completionsUrl, {
      method: 'POST',
      body: JSON.stringify({ model: 'usage:40,60', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    })
    expect(response.status).toBe(400)
    expect(await problemOf(response)).toMatchObject({ code: 'mpp_streaming_unavailable' })
  })

  it('offers the request as one unit priced at its quote, with the token prices and the next bucket in methodDetails', async () => {
    const ask = chatRequest('usage:40,60')
    const response = await gateway.fetch(completionsUrl, ask)
    const request = Challenge.request(Challenge.parse(response.headers.get('WWW-Authenticate')!))
    // A client that knows only the session spec pays amount × 1 request: the most this request can cost.
    const quote = await chatPricing(catalogue)({
      request: new Request(completionsUrl, ask),
      body: new TextEncoder().encode(ask.body),
      route: '',
    })
    expect(request).toMatchObject({
      amount: quote.total.toString(),
      unitType: 'request',
      methodDetails: { model: 'usage:40,60', inputTokenPrice: '10', outputTokenPrice: '20', requiredCumulative: bucketSize.toString() },
    })
    expect(quote.total).toBe(BigInt(quote.units - 100) * 10n + 100n * 20n)
  })

  it('lists the models and their prices for free', async () => {
    const response = await gateway.fetch('http://gateway.test/v1/models')
    expect(response.status).toBe(200)
    const models = (await response.json()) as { data: { id: string; pricing: Record<string, string> }[] }
    expect(models.data[0]).toMatchObject({ id: 'usage:40,60', pricing: { unit: 'llm_token', input: '10', output: '20' } })
  })
})

describe('the official openai SDK against the gateway', () => {
  const sdk = (maxRetries = 2) =>
    new OpenAI({ baseURL: 'http://gateway.test/v1/mpp', apiKey: 'unused', maxRetries, fetch: gateway.fetch as typeof fetch })

  it('lists the models with its baseURL at /v1/mpp', async () => {
    const models = await sdk().models.list()
    expect(models.data.map((model) => model.id)).toEqual(catalogue.map((model) => model.id))
  })

  it('retries a 429 on its own with the same credential, and the retry is served and charged once', async () => {
    const payer = gateway.payer(8)
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const before = await channelState(payer)
    // The credential rides in the SDK's own request, so its retries resend it unchanged.
    const { request, authorization } = await withVoucher(payer, 'once:fail:429:1', before.acceptedCumulative)
    const calls = await gateway.upstream.calls()
    const completion = await sdk().chat.completions.create(JSON.parse(request.body), { headers: { Authorization: authorization } })
    expect(completion.choices[0]?.message.content).toBe('Fake upstream reply.')
    expect(await gateway.upstream.calls()).toBe(calls + 2)
    const after = await channelState(payer)
    expect(after.spent - before.spent).toBe(10n * 10n + 5n * 20n)
    expect(reservedOf(after)).toBe(0n)
  })

  it('gets the 429 itself when it does not retry, and nothing is charged', async () => {
    const payer = gateway.payer(8)
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const before = await channelState(payer)
    const { request, authorization } = await withVoucher(payer, 'once:fail:429:1', before.acceptedCumulative)
    const refused = sdk(0).chat.completions.create(JSON.parse(request.body), { headers: { Authorization: authorization } })
    await expect(refused).rejects.toMatchObject({ status: 429, headers: expect.anything() })
    expect((await channelState(payer)).spent).toBe(before.spent)
  })
})

describe('paid chat completions: idempotency', () => {
  it('replays a retried request with the same Idempotency-Key: one upstream call, one charge, the same receipt', async () => {
    const payer = gateway.payer(5)
    const headers = { 'Idempotency-Key': 'retry-1' }
    const first = await payer.client.fetch(completionsUrl, chatRequest('usage:40,60', { headers, content: 'idempotent' }))
    expect(first.status).toBe(200)
    const spent = (await channelState(payer)).spent
    const calls = await gateway.upstream.calls()
    const second = await payer.client.fetch(completionsUrl, chatRequest('usage:40,60', { headers, content: 'idempotent' }))
    expect(second.status).toBe(200)
    expect(await second.text()).toBe(await first.clone().text())
    expect(second.headers.get('Payment-Receipt')).toBe(first.headers.get('Payment-Receipt'))
    expect(await gateway.upstream.calls()).toBe(calls)
    expect((await channelState(payer)).spent).toBe(spent)
  })

  it('runs two concurrent requests with the same key once', async () => {
    const payer = gateway.payer(6)
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const spent = (await channelState(payer)).spent
    const { signedCumulative } = payer.channel()
    const options = { headers: { 'Idempotency-Key': 'concurrent-1' }, content: 'slow and once' }
    const a = await withVoucher(payer, 'stall:600', signedCumulative, options)
    const b = await withVoucher(payer, 'stall:600', signedCumulative, options)
    await gateway.upstream.reset()
    const [first, second] = await Promise.all(
      [a, b].map(({ request, authorization }) =>
        gateway.fetch(completionsUrl, { ...request, headers: { ...request.headers, Authorization: authorization } }),
      ),
    )
    expect([first!.status, second!.status]).toEqual([200, 200])
    expect(await first!.text()).toBe(await second!.text())
    expect(await gateway.upstream.calls()).toBe(1)
    const after = await channelState(payer)
    expect(after.spent - spent).toBe(BigInt(receiptOf(first!).spent!) - spent)
  })
})

describe('paid chat completions: reservations and flooding', () => {
  it('releases an expired reservation so it never locks the payer’s funds', async () => {
    const short = await startGatewayFixture({ reservationTtl: 200 })
    try {
      const payer = short.payer(5)
      expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60', { maxTokens: 10 }))).status).toBe(200)
      // A slow request reserves almost the whole bucket of 100,000 and stalls upstream for 800 ms.
      const slow = (async () => {
        const { request, authorization } = await withVoucherOn(short, payer, 'stall:800', { maxTokens: 4_800 })
        return short.fetch(completionsUrl, { ...request, headers: { ...request.headers, Authorization: authorization } })
      })()
      await expect
        .poll(async () => reservedOf((await short.store.getChannel(payer.channel().channelId))!), { interval: 10 })
        .toBeGreaterThan(90_000n)
      await new Promise((resolve) => setTimeout(resolve, 300))
      // Its reservation lapsed: a second request of the same size fits the same bucket.
      const { request, authorization } = await withVoucherOn(short, payer, 'usage:100,4500', { maxTokens: 4_800 })
      const second = await short.fetch(completionsUrl, { ...request, headers: { ...request.headers, Authorization: authorization } })
      expect(second.status).toBe(200)
      await slow
      const state = (await short.store.getChannel(payer.channel().channelId))!
      expect(reservedOf(state)).toBe(0n)
      expect(state.spent <= state.acceptedCumulative).toBe(true)
    } finally {
      await short.stop()
    }
  })

  it('rate-limits a burst of 50 new vouchers on one channel', async () => {
    const payer = gateway.payer(7)
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const base = payer.channel().signedCumulative
    const prepared = await Promise.all(
      Array.from({ length: 50 }, (_, i) => withVoucher(payer, 'usage:40,60', base + BigInt(i + 1) * 1_000n)),
    )
    const responses = await Promise.all(
      prepared.map(({ request, authorization }) =>
        gateway.fetch(completionsUrl, { ...request, headers: { ...request.headers, Authorization: authorization } }),
      ),
    )
    const limited = responses.filter((response) => response.status === 429)
    expect(limited.length).toBeGreaterThanOrEqual(40)
    for (const response of limited) {
      expect(Number(response.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1)
      expect((await problemOf(response)).code).toBe('mpp_rate_limited')
    }
  })
})

describe('paid chat completions: payer containment', () => {
  it('refuses a denied payer with 403 mpp_payer_not_allowed after verifying who pays', async () => {
    const { testAccounts } = await import('../harness/local-chain.js')
    const contained = await startGatewayFixture({ payers: { deny: [testAccounts[6]!.address] } })
    try {
      const deniedPayer = contained.payer(6)
      const denied = await deniedPayer.client.fetch(completionsUrl, chatRequest('usage:40,60'))
      expect(denied.status).toBe(403)
      expect(denied.headers.get('WWW-Authenticate')).toBeNull()
      expect(await problemOf(denied)).toMatchObject({ code: 'mpp_payer_not_allowed', retryable: false })
      expect(await contained.upstream.calls()).toBe(0)
      // Refused before the open transaction was broadcast: no deposit is locked.
      expect(await contained.escrow.getChannel(deniedPayer.channel().channelId)).toBeUndefined()
      expect((await contained.payer(7).client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    } finally {
      await contained.stop()
    }
  })
})

/** `withVoucher` on another fixture, reusing the payer's latest voucher. */
async function withVoucherOn(
  fixture: Awaited<ReturnType<typeof startGatewayFixture>>,
  payer: ReturnType<typeof gateway.payer>,
  model: string,
  options: Parameters<typeof chatRequest>[1],
) {
  const request = chatRequest(model, options)
  const unpaid = await fixture.fetch(completionsUrl, request)
  const challenge = Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge
  const { channelId, signedCumulative, signature } = payer.channel()
  return {
    request,
    authorization: Credential.format({
      challenge,
      payload: { action: 'voucher', channelId, cumulativeAmount: signedCumulative.toString(), signature },
    }),
  }
}
