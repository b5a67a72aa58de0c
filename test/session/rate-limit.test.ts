// The engine's rate limits on the fast fixture (memory store, in-memory escrow,
// a clock the test moves): new vouchers per channel, opens per client address,
// and the per-process front of the store's limits.
import { describe, expect, it } from 'vitest'
import { sourceOf } from '../../src/session/new-channel-limit.js'
import { type RateLimitStore, rateLimiter } from '../../src/session/rate-limit.js'
import { memoryStore } from '../../src/stores/memory.js'
import { engineFixture, problem, type Shape } from '../support/engine.js'

const from = (client?: string): Shape => ({ method: 'POST', body: '{}', ...(client === undefined ? {} : { client }) })

describe('session engine: new vouchers per channel', () => {
  it('verifies at most verificationsPerSecond new vouchers per window; stale and repeated ones are not counted; Retry-After is honest', async () => {
    let time = Date.now()
    const { pay, openPayload, voucher } = engineFixture({ verificationsPerSecond: 3, now: () => time })
    const { channelId, payload } = await openPayload()
    // The open's initial voucher is the first verification, then two new vouchers.
    expect((await pay(payload)).status).toBe(200)
    expect((await pay(await voucher(channelId, 11_000n))).status).toBe(200)
    expect((await pay(await voucher(channelId, 12_000n))).status).toBe(200)
    const limited = await pay(await voucher(channelId, 13_000n))
    expect(limited.status).toBe(429)
    expect(await problem(limited)).toMatchObject({ code: 'mpp_rate_limited', channelId })
    expect(limited.headers.get('Retry-After')).toBe('1')
    // The accepted voucher again pays without a verification, a stale one is refused before one.
    expect((await pay(await voucher(channelId, 12_000n))).status).toBe(200)
    expect((await problem(await pay(await voucher(channelId, 11_000n)))).code).toBe('mpp_payment_verification_failed')
    time += Number(limited.headers.get('Retry-After')) * 1_000
    expect((await pay(await voucher(channelId, 13_000n))).status).toBe(200)
  })
})

describe('session engine: opens per client address', () => {
  it('counts every open before anything is decoded or read on chain, leaves other and unknown addresses alone, and takes the refused credential after Retry-After', async () => {
    let time = Date.now()
    const { book, pay, challengeFor, openPayload } = engineFixture({ opensPerMinute: 2, now: () => time })
    const client = from('203.0.113.7')
    // An open whose transaction does not even decode is counted too.
    const bogus = { ...(await openPayload()).payload, transaction: '0xdeadbeef' }
    expect((await problem(await pay(bogus, client))).code).toBe('mpp_payment_verification_failed')
    expect((await pay((await openPayload()).payload, client)).status).toBe(200)

    const calls = { ...book.calls }
    const challenge = await challengeFor(client)
    const { payload } = await openPayload()
    const refused = await pay(payload, client, challenge)
    expect(refused.status).toBe(429)
    expect(await problem(refused)).toMatchObject({ code: 'mpp_rate_limited', retryable: true })
    expect(refused.headers.get('Retry-After')).toBe('60')
    // Refused before decoding: the undecodable one is a 429 now, not a 402; and nothing reached the chain.
    expect((await pay(bogus, client)).status).toBe(429)
    expect(book.calls).toEqual(calls)

    expect((await pay((await openPayload()).payload, from('198.51.100.1'))).status).toBe(200)
    expect((await pay((await openPayload()).payload, from())).status).toBe(200)
    // Its challenge was not used: the very credential opens once the wait has passed.
    time += Number(refused.headers.get('Retry-After')) * 1_000
    expect((await pay(payload, client, challenge)).status).toBe(200)
  })

  it('counts a voucher, topUp or close naming a channel the store does not hold against the same budget, before the chain is read', async () => {
    const { book, pay, openPayload, voucher, topUpPayload } = engineFixture({ opensPerMinute: 3 })
    const client = from('203.0.113.9')
    const unknown = async () => (await openPayload()).channelId
    for (const payload of [await voucher(await unknown(), 10_000n), await topUpPayload(await unknown(), 1_000n)]) {
      expect((await problem(await pay(payload, client))).code).toBe('mpp_channel_not_found')
    }
    expect((await problem(await pay(await voucher(await unknown(), 0n, 'close'), client))).code).toBe('mpp_channel_not_found')
    const reads = book.calls.getChannel
    const refused = await pay(await voucher(await unknown(), 10_000n), client)
    expect(refused.status).toBe(429)
    expect((await problem(refused)).code).toBe('mpp_rate_limited')
    expect((await pay(await voucher(await unknown(), 0n, 'close'), client)).status).toBe(429)
    expect(book.calls.getChannel).toBe(reads)
    // A channel the store holds costs nothing from the budget: the open below is refused, its voucher is not.
    const other = from('198.51.100.9')
    const { channelId, payload } = await openPayload()
    expect((await pay(payload, other)).status).toBe(200)
    expect((await pay(await voucher(channelId, 20_000n), client)).status).toBe(200)
  })

  it('counts an IPv6 client by its /64, and an IPv4-mapped one as its IPv4 address', async () => {
    const { pay, openPayload } = engineFixture({ opensPerMinute: 1 })
    const open = async (client: string) => (await pay((await openPayload()).payload, from(client))).status
    expect(await open('2001:db8:1:2::1')).toBe(200)
    expect(await open('2001:DB8:1:2:ffff::9')).toBe(429)
    expect(await open('2001:db8:1:3::1')).toBe(200)
    expect(await open('192.0.2.1')).toBe(200)
    expect(await open('::ffff:192.0.2.1')).toBe(429)
  })

  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:c000:201', '192.0.2.1'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0db8:0000:0001:aaaa:bbbb:cccc:dddd', '2001:db8:0:1::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['64:ff9b::198.51.100.1', '64:ff9b:0:0::/64'],
    ['2001:db8::1::2', '2001:db8::1::2'],
    ['1:2:3:4:5:6:7', '1:2:3:4:5:6:7'],
    ['::ffff:1.2.3.256', '::ffff:1.2.3.256'],
    ['unix-socket', 'unix-socket'],
  ])('counts %s against %s', (address, source) => {
    expect(sourceOf(address)).toBe(source)
  })
})

describe("the per-process front of the store's limits", () => {
  it('answers a full window itself until it ends, so a flood costs the store one take per window', async () => {
    let time = 1_000_000
    const store = memoryStore({ now: () => time })
    let takes = 0
    const counting: RateLimitStore = {
      takeRateLimit: (...args) => {
        takes++
        return store.takeRateLimit(...args)
      },
    }
    const take = rateLimiter(counting, () => time)
    expect(await take('k', 2, 60_000)).toBeUndefined()
    time += 500
    expect(await take('k', 2, 60_000)).toBeUndefined()
    expect(await take('k', 2, 60_000)).toBe(60)
    time += 1_000
    for (let i = 0; i < 100; i++) expect(await take('k', 2, 60_000)).toBe(59)
    expect(takes).toBe(3)
    expect(await take('other', 2, 60_000)).toBeUndefined()
    expect(takes).toBe(4)
    // The window (opened at 1,000,000) ends at 1,060,000: the front answers until then, the store from then on.
    time = 1_059_999
    expect(await take('k', 2, 60_000)).toBe(1)
    expect(takes).toBe(4)
    time = 1_060_000
    expect(await take('k', 2, 60_000)).toBeUndefined()
    expect(takes).toBe(5)
  })
})
