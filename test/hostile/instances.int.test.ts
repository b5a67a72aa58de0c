// Limits an attacker would get around by spreading requests over instances:
// the target and the second instance (`other`) share one PostgreSQL, so new
// vouchers on one channel are admitted at most VOUCHER_RATE_LIMIT per second in
// total, however they alternate (each instance alone would admit as many), and
// opens from one client address at most OPEN_RATE_LIMIT per minute in total,
// while another address still opens. The rest are 429 mpp_rate_limited with a
// Retry-After that is enough, and move nothing. Clients are told apart by
// their socket's address: 127.0.0.2 attacks, 127.0.0.3 is someone else, and
// 127.0.0.5 opens the voucher burst's channel (127.0.0.1's opens belong to the
// other files).
import type { Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import { Challenge } from '../../src/protocol/challenge.js'
import { fetchFrom } from '../support/fetch-from.js'
import {
  balanceOf,
  chatBody,
  clientOf,
  completionsPath,
  credential,
  escrowAddress,
  expectProblem,
  gateway,
  newPayer,
  observe,
  onChain,
  other,
  payeeAddress,
  receiptOf,
  snapshot,
  upstream,
  voucher,
} from './support.js'
import { models, openRateLimit, voucherRateLimit } from './target.js'

const instances = [gateway.url, other.url]
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** A management request (a bodiless POST) to `url`, with `authorization`, sent by `send`. */
const manage = (url: string, authorization?: string, send: typeof fetch = fetch) =>
  send(`${url}${completionsPath}`, { method: 'POST', headers: authorization === undefined ? {} : { Authorization: authorization } })

/** A fresh challenge for a management request, from `url`. */
async function managementChallenge(url: string, send: typeof fetch = fetch) {
  const unpaid = await manage(url, undefined, send)
  expect(unpaid.status).toBe(402)
  return Challenge.parse(unpaid.headers.get('WWW-Authenticate')!)
}

describe('new vouchers on one channel, alternating between the two instances', () => {
  it('are admitted at VOUCHER_RATE_LIMIT per second in total; the rest get 429 with a Retry-After after which the next passes; nothing refused moves', async () => {
    const channel = await clientOf({ url: other.url, from: '127.0.0.5' }).openChannel(await newPayer(), 1_000_000n, 1_000n)
    const amounts = Array.from({ length: 24 }, (_, i) => 1_000n + BigInt(i + 1) * 1_000n)
    // Signed and challenged beforehand, so the burst is only the requests; each a fresh challenge, from either instance.
    const credentials = await Promise.all(
      amounts.map(async (amount, i) => credential(await managementChallenge(instances[i % 2]!), await voucher(channel, amount))),
    )
    const before = await snapshot(channel)
    // The open's window (its initial voucher) has ended.
    await sleep(1_100)

    // Each voucher higher than the last, so none is stale and every one reaches the limit.
    const started = performance.now()
    const responses: Response[] = []
    for (const [i, authorization] of credentials.entries()) responses.push(await manage(instances[i % 2]!, authorization))
    const elapsed = performance.now() - started
    const statuses = responses.map((response) => response.status)
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true)
    expect(statuses.slice(0, voucherRateLimit)).toEqual(Array(voucherRateLimit).fill(200))
    // Per instance it would be twice the limit; in one window it is the limit.
    const admitted = statuses.filter((status) => status === 200).length
    expect(admitted).toBeLessThanOrEqual(voucherRateLimit * (1 + Math.floor(elapsed / 1_000)))
    if (elapsed < 1_000) expect(admitted).toBe(voucherRateLimit)
    for (const instance of [0, 1]) expect(statuses.some((status, i) => i % 2 === instance && status === 429)).toBe(true)
    for (const response of responses) {
      await observe(channel, response)
      if (response.status === 429) expect((await expectProblem(response, 'mpp_rate_limited')).channelId).toBe(channel.channelId)
    }
    // What was admitted is accepted (the highest of it); the refused vouchers moved nothing, nothing was spent or served.
    const highest = amounts[statuses.lastIndexOf(200)]!
    expect(channel.accepted.amount).toBe(highest)
    expect(await snapshot(channel)).toEqual({ ...before, state: { spent: 0n, acceptedCumulative: highest } })

    // Waiting Retry-After (1 s) is enough, on either instance.
    await sleep(1_000)
    const next = amounts.at(-1)! + 1_000n
    const passed = await manage(other.url, credential(await managementChallenge(other.url), await voucher(channel, next)))
    expect(passed.status).toBe(200)
    expect(receiptOf(passed)?.acceptedCumulative).toBe(next.toString())
  })
})

describe('opens from one client address, alternating between the two instances', () => {
  it('are admitted at OPEN_RATE_LIMIT per minute in total, the rest 429 with the window’s Retry-After; another address still opens; nothing moves', async () => {
    const attacker = fetchFrom('127.0.0.2')
    // Opens whose transactions do not even decode: each one counts, and is refused when admitted.
    const channelId = `0x${'ef'.repeat(32)}` as Hex
    const bogus = {
      action: 'open',
      type: 'transaction',
      channelId,
      transaction: '0xdeadbeef',
      cumulativeAmount: '1',
      signature: `0x${'11'.repeat(64)}1b`,
    }
    const attempts = openRateLimit + 10
    const credentials = await Promise.all(
      Array.from({ length: attempts }, async (_, i) => credential(await managementChallenge(instances[i % 2]!, attacker), bogus)),
    )
    const [payee, escrow, calls] = await Promise.all([balanceOf(payeeAddress), balanceOf(escrowAddress), upstream.calls()])
    const started = performance.now()
    const responses = await Promise.all(credentials.map((authorization, i) => manage(instances[i % 2]!, authorization, attacker)))
    const elapsed = performance.now() - started

    const limited = responses.filter((response) => response.status === 429)
    expect(limited).toHaveLength(attempts - openRateLimit)
    // Retry-After is what is left of the minute that began with the first of these opens.
    const left = { min: 60 - Math.ceil(elapsed / 1_000) - 1, max: 60 }
    for (const response of limited) {
      const retryAfter = Number(response.headers.get('Retry-After'))
      expect(retryAfter).toBeGreaterThanOrEqual(left.min)
      expect(retryAfter).toBeLessThanOrEqual(left.max)
      await expectProblem(response, 'mpp_rate_limited', { retryAfter: String(retryAfter) })
    }
    // The admitted ones were judged, and refused for what they are.
    for (const response of responses.filter((one) => one.status !== 429)) {
      const problem = await expectProblem(response, 'mpp_payment_verification_failed')
      expect(problem.detail).toMatch(/transaction/i)
    }
    expect(await onChain(channelId)).toEqual({ deposit: 0n, settled: 0n, finalized: false, closeRequestedAt: 0n })
    expect(await Promise.all([balanceOf(payeeAddress), balanceOf(escrowAddress), upstream.calls()])).toEqual([payee, escrow, calls])

    // Another address opens a real channel on one instance and is served on the other.
    const someoneElse = await newPayer()
    const channel = await clientOf({ url: other.url, from: '127.0.0.3' }).openChannel(someoneElse, 1_000_000n, 100_000n)
    const { response } = await clientOf({ from: '127.0.0.3' }).paidChat(
      channel,
      chatBody(models.fixed, 'Opened while 127.0.0.2 is limited.'),
    )
    expect(response.status).toBe(200)
    expect(receiptOf(response)).toMatchObject({ spent: '1600', acceptedCumulative: '100000' })
  })
})
