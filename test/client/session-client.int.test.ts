// The session client against the real gateway (anvil, the escrow, the fake
// upstream process): it waits out a 429 or 503 for its Retry-After (seconds or
// an HTTP date) and sends the same request again, within its bounds, and gives
// up with a typed error carrying the problem's code and Retry-After.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { SessionClientError } from '../../src/client/errors.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { chatRequest, completionsUrl, startGatewayFixture } from '../support/gateway.js'

let gateway: Awaited<ReturnType<typeof startGatewayFixture>>
beforeAll(async () => {
  // One voucher verification per channel per second: a new voucher right after the open is refused for a second.
  gateway = await startGatewayFixture({ verificationsPerSecond: 1 })
})
afterAll(async () => {
  await gateway?.stop()
})
beforeEach(async () => {
  await gateway.upstream.reset()
})

const spentOf = (response: Response) => BigInt(Receipt.parse(response.headers.get('Payment-Receipt')!).spent!)
/** The answers the gateway sent, in order (its log). */
const codesSince = (from: number) => gateway.logs.slice(from).map((entry) => `${entry.status} ${entry.code ?? ''}`.trim())
/** Runs `work`; the error it rejects with. */
async function failure(work: Promise<unknown>): Promise<SessionClientError> {
  const error = await work.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  if (!(error instanceof SessionClientError)) throw new Error(`expected a SessionClientError, got ${String(error)}`)
  return error
}

describe('the session client waits out 429 and 503', () => {
  it("waits a rate-limited voucher's Retry-After and pays with the same credential, charged once", async () => {
    const payer = gateway.payer(5)
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const from = gateway.logs.length
    // A quote beyond the bucket: a new voucher, in the same second as the open's.
    const started = performance.now()
    const response = await payer.client.fetch(completionsUrl, chatRequest('usage:100,4500', { maxTokens: 4_950 }))
    expect(response.status).toBe(200)
    expect(performance.now() - started).toBeGreaterThanOrEqual(900)
    expect(codesSince(from)).toEqual([
      '402 payment_required',
      '402 mpp_voucher_bucket_refresh_required',
      '429 mpp_rate_limited',
      '200 paid',
    ])
    expect(spentOf(response)).toBe(1_600n + 100n * 10n + 4_500n * 20n)
  })

  it("waits out the upstream's 429 and the gateway's 503 mpp_commit_failed; each request is charged once", async () => {
    const payer = gateway.payer(6)
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const limited = await payer.client.fetch(completionsUrl, chatRequest('once:fail:429:1'))
    expect(limited.status).toBe(200)
    expect(await gateway.upstream.calls()).toBe(3)
    gateway.failNextCommit()
    const from = gateway.logs.length
    const committed = await payer.client.fetch(completionsUrl, chatRequest('usage:40,60', { content: 'after a failed commit' }))
    expect(committed.status).toBe(200)
    expect(codesSince(from)).toEqual(['402 payment_required', '503 mpp_commit_failed', '200 paid'])
    // The open's request, the rate-limited one (an `ok` completion: 10 + 5 tokens) and this one.
    expect(spentOf(committed)).toBe(1_600n + (10n * 10n + 5n * 20n) + 1_600n)
    expect((await gateway.store.getChannel(payer.channel().channelId))?.spent).toBe(spentOf(committed))
  })

  it('reads Retry-After as an HTTP date', async () => {
    // The gateway's Retry-After rewritten as the date one second later, as a proxy might send it.
    const dated = (async (input: string | URL | Request, init?: RequestInit) => {
      const response = await gateway.fetch(input, init)
      if (response.status !== 429) return response
      const headers = new Headers(response.headers)
      headers.set('Retry-After', new Date(Date.now() + 2_000).toUTCString())
      return new Response(response.body, { status: response.status, headers })
    }) as typeof fetch
    const payer = gateway.payer(7, undefined, { fetch: dated })
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const started = performance.now()
    expect((await payer.client.fetch(completionsUrl, chatRequest('once:fail:429:1'))).status).toBe(200)
    // An HTTP date has whole seconds: between one and two seconds away.
    expect(performance.now() - started).toBeGreaterThanOrEqual(900)
  })
})

describe('the session client gives up with a typed error', () => {
  it('on a Retry-After longer than maxWaitMs, at once, with the problem code and the wait', async () => {
    const payer = gateway.payer(8, undefined, { retry: { maxWaitMs: 5_000 } })
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const started = performance.now()
    const error = await failure(payer.client.fetch(completionsUrl, chatRequest('fail:429')))
    expect(performance.now() - started).toBeLessThan(900)
    expect(error).toMatchObject({ code: 'retry_exhausted', status: 429, problemCode: 'upstream_rate_limited', retryAfter: 7 })
    expect(error.response?.status).toBe(429)
  })

  it('after maxRetries waits, having sent the request maxRetries + 1 times', async () => {
    const payer = gateway.payer(9, undefined, { retry: { maxRetries: 2 } })
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const calls = await gateway.upstream.calls()
    const started = performance.now()
    const error = await failure(payer.client.fetch(completionsUrl, chatRequest('fail:429:1')))
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_900)
    expect(error).toMatchObject({ code: 'retry_exhausted', status: 429, problemCode: 'upstream_rate_limited', retryAfter: 1 })
    expect(await gateway.upstream.calls()).toBe(calls + 3)
  })

  it('stops waiting when the request is aborted', async () => {
    const payer = gateway.payer(5)
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const abort = new AbortController()
    const started = performance.now()
    const pending = payer.client.fetch(completionsUrl, chatRequest('fail:429:1', { signal: abort.signal }))
    setTimeout(() => abort.abort(), 300)
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    expect(performance.now() - started).toBeLessThan(900)
  })

  it('on a 402 it cannot answer with anything new: a refused voucher signature, at once', async () => {
    // A transport that spoils every voucher signature it carries: the gateway refuses each one, not retryable.
    const spoiling = (async (input: string | URL | Request, init?: RequestInit) => {
      const headers = new Headers(init?.headers)
      for (const field of ['Authorization', 'Payment-Authorization']) {
        const value = headers.get(field)
        if (value === null) continue
        const credential = Credential.parse(value)
        const payload = credential.payload as Record<string, string>
        if (payload.action !== 'voucher') continue
        // Another r: still well formed, no longer the payer's signature.
        const signature = `0x${payload.signature!.slice(2, 4) === '01' ? '02' : '01'}${payload.signature!.slice(4)}`
        headers.set(field, Credential.format({ ...credential, payload: { ...payload, signature } }))
      }
      return gateway.fetch(input, { ...init, headers })
    }) as typeof fetch
    const payer = gateway.payer(6, undefined, { fetch: spoiling })
    expect((await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))).status).toBe(200)
    const from = gateway.logs.length
    const error = await failure(payer.client.fetch(completionsUrl, chatRequest('usage:40,60')))
    expect(error).toMatchObject({ code: 'payment_refused', status: 402, problemCode: 'mpp_payment_verification_failed' })
    // (A 429 comes first when the open's recovery was less than a second before.)
    expect(codesSince(from).filter((code) => code !== '429 mpp_rate_limited')).toEqual([
      '402 payment_required',
      '402 mpp_payment_verification_failed',
    ])
  })
})

describe('the session client with nextChallenge', () => {
  it('pays each request with the challenge the last delivery carried: no 402 first, one round trip while the voucher covers it', async () => {
    const payer = gateway.payer(8, undefined, { nextChallenge: true })
    const opened = await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))
    expect(opened.status).toBe(200)
    const from = gateway.logs.length
    let response = opened
    for (let i = 0; i < 4; i++) {
      response = await payer.client.fetch(completionsUrl, chatRequest('usage:40,60', { content: `question ${i}` }))
      expect(response.status).toBe(200)
    }
    // A further bucket, when the voucher no longer covers a request, is asked for by a 402 (and a 429 within a second of the last recovery).
    const asked = new Set(['402 mpp_voucher_bucket_refresh_required', '429 mpp_rate_limited'])
    expect(codesSince(from).filter((code) => !asked.has(code))).toEqual(['200 paid', '200 paid', '200 paid', '200 paid'])
    expect(spentOf(response)).toBe(5n * 1_600n)
    expect((await gateway.store.getChannel(payer.channel().channelId))?.spent).toBe(5n * 1_600n)
  })
})
