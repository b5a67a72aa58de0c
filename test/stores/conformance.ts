// The contract every store adapter keeps (src/session/store.ts,
// src/session/rate-limit.ts and src/payment/challenge-store.ts), run unchanged
// against memory, PGlite, PostgreSQL and Durable Objects. No Node APIs here: it
// also runs inside workerd.
import type { Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import { PaymentError } from '../../src/errors/payment-error.js'
import {
  acceptVoucher,
  assertInvariant,
  type ChannelState,
  commit,
  fromChain,
  InsufficientAuthorization,
  release,
  reserve,
  reservedOf,
} from '../../src/session/channel.js'
import type { ChannelLister } from '../../src/session/store.js'
import type { SessionStore } from '../../src/stores/store.js'
import { engineFixture, price, problem } from '../support/engine.js'

let counter = 0
/** A channel id no other test uses (stores may be shared across tests). */
export const freshChannelId = () => `0x${(Date.now() * 1000 + ++counter).toString(16).padStart(64, '0')}` as Hex

const maxUint128 = (1n << 128n) - 1n
const signature = (n: number) => `0x${n.toString(16).padStart(128, '0')}1b` as Hex

export function newChannel(channelId: Hex, deposit = 1_000_000n): ChannelState {
  return fromChain(
    channelId,
    {
      payer: '0x1111111111111111111111111111111111111111',
      payee: '0x2222222222222222222222222222222222222222',
      token: '0x20c0000000000000000000000000000000000000',
      authorizedSigner: '0x0000000000000000000000000000000000000000',
      deposit,
      settled: 0n,
      closeRequestedAt: 0n,
      finalized: false,
    },
    Date.now(),
  )
}

/** Writes a state through `updateChannel`, as the engine does. */
const put = (store: SessionStore, state: ChannelState) => store.updateChannel(state.channelId, () => ({ state, result: undefined }))
const change = (store: SessionStore, channelId: Hex, next: (state: ChannelState) => ChannelState) =>
  store.updateChannel(channelId, (current) => {
    if (current === undefined) throw new Error('no such channel')
    const state = next(current)
    assertInvariant(state)
    return { state, result: state }
  })

/** What a request refused for its channel's balance gets: the vouchers or the deposit do not cover it. */
const balanceCodes = ['mpp_request_exceeds_voucher_bucket', 'mpp_voucher_bucket_refresh_required', 'mpp_session_deposit_below_request_cost']

/**
 * Opens a channel through the engine on `store` (deposit 100,000, the open's
 * voucher 10,000 pays one request of 1,000), then sends every payload at once,
 * each on its own challenge, as concurrent content requests. The engine's
 * default voucher rate limit holds (10 a second per channel): copies of one
 * voucher take one unit of it.
 */
async function burst(store: SessionStore, vouchers: (channelId: Hex) => Promise<Record<string, unknown>[]>) {
  const fixture = engineFixture({ store })
  const { channelId, payload } = await fixture.openPayload(100_000n, 10_000n)
  expect((await fixture.pay(payload)).status).toBe(200)
  const payloads = await vouchers(channelId)
  const challenges = await Promise.all(payloads.map(() => fixture.challengeFor()))
  const responses = await Promise.all(payloads.map((each, i) => fixture.pay(each, undefined, challenges[i])))
  const outcomes = await Promise.all(
    responses.map(async (response) => ({
      status: response.status,
      code: response.status === 200 ? undefined : (await problem(response)).code,
      receipt: response.headers.get('Payment-Receipt'),
    })),
  )
  const served = outcomes.filter((outcome) => outcome.status === 200)
  // Every receipt's `spent` is distinct: each 200 was charged once, in turn.
  const spents = served.map((outcome) => BigInt(JSON.parse(atob(outcome.receipt!.replace(/-/g, '+').replace(/_/g, '/'))).spent))
  return { channelId, outcomes, served: served.length, spents, state: (await store.getChannel(channelId))! }
}

export function describeStoreConformance(name: string, open: () => SessionStore | Promise<SessionStore>) {
  describe(`SessionStore conformance: ${name}`, () => {
    it('lists every channel it holds, as written (a store that can list: memory, SQL)', async () => {
      const store = (await open()) as SessionStore & Partial<ChannelLister>
      if (store.listChannels === undefined) return // Durable Objects: one object per channel, no index to list
      const first = { ...newChannel(freshChannelId(), maxUint128), spent: 5n, acceptedCumulative: 7n }
      const second = newChannel(freshChannelId(), 3n)
      await put(store, first)
      await put(store, second)
      const listed = await store.listChannels()
      expect(listed.find((state) => state.channelId === first.channelId)).toEqual(first)
      expect(listed.find((state) => state.channelId === second.channelId)).toEqual(second)
    })

    it('reads back exactly what was written, uint128 amounts and all', async () => {
      const store = await open()
      const channelId = freshChannelId()
      expect(await store.getChannel(channelId)).toBeUndefined()
      const state: ChannelState = {
        ...newChannel(channelId, maxUint128),
        settled: 1n,
        spent: maxUint128 - 7n,
        acceptedCumulative: maxUint128 - 1n,
        vouchers: [{ amount: maxUint128 - 1n, signature: signature(1) }],
        reservations: { r1: { amount: 6n, expiresAt: 1_900_000_000_000 } },
        closeRequestedAt: 1_736_165_100n,
        closeTxHash: `0x${'ab'.repeat(32)}`,
      }
      await put(store, state)
      expect(await store.getChannel(channelId)).toEqual(state)
    })

    it("keeps a v2 channel's descriptor through writes and updates, and none for a v1 channel", async () => {
      const store = (await open()) as SessionStore & Partial<ChannelLister>
      const descriptor = {
        payer: '0x1111111111111111111111111111111111111111',
        payee: '0x2222222222222222222222222222222222222222',
        operator: '0x3333333333333333333333333333333333333333',
        token: '0x20c0000000000000000000000000000000000000',
        salt: `0x${'5a'.repeat(32)}`,
        authorizedSigner: '0x0000000000000000000000000000000000000000',
        expiringNonceHash: `0x${'e7'.repeat(32)}`,
      } as const
      const v1 = newChannel(freshChannelId())
      const channelId = freshChannelId()
      const v2: ChannelState = { ...newChannel(channelId), descriptor }
      await put(store, v1)
      await put(store, v2)
      await change(store, channelId, (s) => ({ ...s, acceptedCumulative: 10n }))
      const read = await store.getChannel(channelId)
      expect(read).toEqual({ ...v2, acceptedCumulative: 10n })
      expect(await store.getChannel(v1.channelId)).not.toHaveProperty('descriptor')
      if (store.listChannels !== undefined) {
        expect((await store.listChannels()).find((state) => state.channelId === channelId)?.descriptor).toEqual(descriptor)
      }
    })

    it('writes nothing when an update throws or returns no state, and passes its result back', async () => {
      const store = await open()
      const channelId = freshChannelId()
      const written = newChannel(channelId)
      await put(store, written)
      const refused = store.updateChannel(channelId, () => {
        throw new PaymentError('mpp_commit_failed', 'refused')
      })
      await expect(refused).rejects.toMatchObject({ code: 'mpp_commit_failed' })
      expect(await store.updateChannel(channelId, (current) => ({ result: current?.deposit }))).toBe(1_000_000n)
      expect(await store.getChannel(channelId)).toEqual(written)
    })

    it('accepts vouchers monotonically', async () => {
      const store = await open()
      const channelId = freshChannelId()
      await put(store, newChannel(channelId))
      await change(store, channelId, (s) => acceptVoucher(s, { amount: 500n, signature: signature(1) }, { now: 1 }))
      await expect(
        change(store, channelId, (s) => acceptVoucher(s, { amount: 400n, signature: signature(2) }, { now: 2 })),
      ).rejects.toThrow(PaymentError)
      expect((await store.getChannel(channelId))?.acceptedCumulative).toBe(500n)
    })

    it('keeps reserve / commit / release arithmetic exact', async () => {
      const store = await open()
      const channelId = freshChannelId()
      await put(store, acceptVoucher(newChannel(channelId), { amount: 1_000n, signature: signature(1) }, { now: 0 }))
      const far = Date.now() + 60_000
      await change(store, channelId, (s) => reserve(s, 'a', 600n, far, Date.now()))
      await change(store, channelId, (s) => reserve(s, 'b', 300n, far, Date.now()))
      await change(store, channelId, (s) => commit(s, 'a', 250n, Date.now()).state)
      await change(store, channelId, (s) => release(s, 'b'))
      const state = (await store.getChannel(channelId))!
      expect({ spent: state.spent, reserved: reservedOf(state) }).toEqual({ spent: 250n, reserved: 0n })
    })

    it('serialises concurrent updates of one channel: the invariant holds and nothing is lost', async () => {
      const store = await open()
      const channelId = freshChannelId()
      await put(store, acceptVoucher(newChannel(channelId), { amount: 2_000n, signature: signature(1) }, { now: 0 }))
      const far = Date.now() + 60_000
      const outcomes = await Promise.allSettled(
        Array.from({ length: 40 }, async (_, i) => {
          await change(store, channelId, (s) => reserve(s, `r${i}`, 100n, far, Date.now()))
          await change(store, channelId, (s) => commit(s, `r${i}`, 100n, Date.now()).state)
        }),
      )
      const paid = outcomes.filter((outcome) => outcome.status === 'fulfilled').length
      const refused = outcomes.filter(
        (outcome) => outcome.status === 'rejected' && outcome.reason instanceof InsufficientAuthorization,
      ).length
      expect(paid).toBe(20)
      expect(refused).toBe(20)
      const state = (await store.getChannel(channelId))!
      expect(state.spent).toBe(2_000n)
      expect(reservedOf(state)).toBe(0n)
    })

    it('keeps channels apart', async () => {
      const store = await open()
      const [a, b] = [freshChannelId(), freshChannelId()]
      await put(store, newChannel(a, 10n))
      await put(store, newChannel(b, 20n))
      expect([(await store.getChannel(a))?.deposit, (await store.getChannel(b))?.deposit]).toEqual([10n, 20n])
    })

    it('lets a reservation lapse at its expiry', async () => {
      const store = await open()
      const channelId = freshChannelId()
      await put(store, acceptVoucher(newChannel(channelId), { amount: 100n, signature: signature(1) }, { now: 0 }))
      const now = Date.now()
      await change(store, channelId, (s) => reserve(s, 'crashed', 100n, now + 50, now))
      await expect(change(store, channelId, (s) => reserve(s, 'next', 100n, now + 60_000, now + 10))).rejects.toBeInstanceOf(
        InsufficientAuthorization,
      )
      await change(store, channelId, (s) => reserve(s, 'next', 100n, now + 60_000, now + 51))
      expect(Object.keys((await store.getChannel(channelId))!.reservations)).toEqual(['next'])
    })

    it('consumes a challenge id exactly once, even under concurrency', async () => {
      const store = await open()
      const id = `challenge-${freshChannelId()}`
      const results = await Promise.all(Array.from({ length: 10 }, () => store.consumeChallenge(id, Date.now() + 60_000)))
      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await store.consumeChallenge(id, Date.now() + 60_000)).toBe(false)
      expect(await store.consumeChallenge(`${id}-other`, Date.now() + 60_000)).toBe(true)
    })

    it('makes a released challenge id consumable once more, and only that id', async () => {
      const store = await open()
      const id = `challenge-${freshChannelId()}`
      expect(await store.consumeChallenge(id, Date.now() + 60_000)).toBe(true)
      expect(await store.consumeChallenge(`${id}-kept`, Date.now() + 60_000)).toBe(true)
      await store.releaseChallenge(id)
      await store.releaseChallenge(`${id}-never-consumed`)
      const results = await Promise.all(Array.from({ length: 5 }, () => store.consumeChallenge(id, Date.now() + 60_000)))
      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await store.consumeChallenge(`${id}-kept`, Date.now() + 60_000)).toBe(false)
    })

    it('keeps idempotency records per channel: one claim, a response stored with its charge, release, expiry', async () => {
      const store = await open()
      const channelId = freshChannelId()
      const other = freshChannelId()
      await put(store, newChannel(channelId))
      const key = 'request-1'
      const claims = await Promise.all(Array.from({ length: 5 }, () => store.claimRequest(channelId, key, Date.now() + 60_000)))
      expect(claims.filter((claim) => claim === undefined)).toHaveLength(1)
      expect(claims.filter((claim) => claim?.state === 'pending')).toHaveLength(4)
      // The same key on another channel is another request.
      expect(await store.claimRequest(other, key, Date.now() + 60_000)).toBeUndefined()
      const response = {
        status: 200,
        headers: { 'Content-Type': 'application/json', 'Payment-Receipt': 'eyJ4IjoxfQ' },
        body: '{"ok":true,"text":"é"}',
      }
      await store.updateChannel(channelId, (state) => ({
        state: { ...state!, spent: 1n, acceptedCumulative: 1n },
        result: undefined,
        completeRequest: { key, response, expiresAt: Date.now() + 60_000 },
      }))
      expect(await store.getRequest(channelId, key)).toEqual({ state: 'done', response })
      expect(await store.claimRequest(channelId, key, Date.now() + 60_000)).toEqual({ state: 'done', response })
      expect((await store.getChannel(channelId))?.spent).toBe(1n)
      expect(await store.getRequest(other, key)).toEqual({ state: 'pending' })

      const released = `${key}-released`
      expect(await store.claimRequest(channelId, released, Date.now() + 60_000)).toBeUndefined()
      await store.releaseRequest(channelId, released)
      expect(await store.getRequest(channelId, released)).toBeUndefined()
      expect(await store.claimRequest(channelId, released, Date.now() + 60_000)).toBeUndefined()

      const lapsed = `${key}-lapsed`
      expect(await store.claimRequest(channelId, lapsed, Date.now() - 1)).toBeUndefined()
      expect(await store.getRequest(channelId, lapsed)).toBeUndefined()
      expect(await store.claimRequest(channelId, lapsed, Date.now() + 60_000)).toBeUndefined()
    })

    it('admits `limit` takes per rate-limit window, refuses the rest with the time left, and keeps keys apart', async () => {
      const store = await open()
      const key = `conformance:${freshChannelId()}`
      const taken: (number | undefined)[] = []
      for (let i = 0; i < 5; i++) taken.push(await store.takeRateLimit(key, 3, 60_000))
      expect(taken.slice(0, 3)).toEqual([undefined, undefined, undefined])
      for (const wait of taken.slice(3)) {
        expect(wait).toBeGreaterThanOrEqual(1)
        expect(wait).toBeLessThanOrEqual(60_000)
      }
      expect(await store.takeRateLimit(`${key}-other`, 1, 60_000)).toBeUndefined()
      // A key of a channel: its own window too.
      const channelId = freshChannelId()
      expect(await store.takeRateLimit(`voucher:${channelId}`, 1, 60_000, channelId)).toBeUndefined()
      expect(await store.takeRateLimit(`voucher:${channelId}`, 1, 60_000, channelId)).toBeGreaterThanOrEqual(1)
      expect(await store.takeRateLimit(`voucher:${freshChannelId()}`, 1, 60_000, channelId)).toBeUndefined()
    })

    it('admits exactly `limit` of many concurrent takes, for a key of a channel and for any other key', async () => {
      const store = await open()
      for (const channelId of [freshChannelId(), undefined]) {
        const key = `concurrent:${freshChannelId()}`
        const taken = await Promise.all(Array.from({ length: 25 }, () => store.takeRateLimit(key, 7, 60_000, channelId)))
        expect(taken.filter((wait) => wait === undefined)).toHaveLength(7)
      }
    })

    it('opens a new window once the wait it answered has passed', async () => {
      const store = await open()
      const key = `window:${freshChannelId()}`
      expect(await store.takeRateLimit(key, 2, 1_000)).toBeUndefined()
      expect(await store.takeRateLimit(key, 2, 1_000)).toBeUndefined()
      const wait = await store.takeRateLimit(key, 2, 1_000)
      expect(wait).toBeGreaterThanOrEqual(1)
      expect(wait).toBeLessThanOrEqual(1_000)
      await new Promise((resolve) => setTimeout(resolve, wait))
      expect(await store.takeRateLimit(key, 2, 1_000)).toBeUndefined()
      expect(await store.takeRateLimit(key, 2, 1_000)).toBeUndefined()
      expect(await store.takeRateLimit(key, 2, 1_000)).toBeGreaterThanOrEqual(1)
    })

    it('writes no response when the charge it belongs to is refused', async () => {
      const store = await open()
      const channelId = freshChannelId()
      await put(store, newChannel(channelId))
      const response = { status: 200, headers: {}, body: 'never' }
      await expect(
        store.updateChannel(channelId, () => {
          throw new PaymentError('mpp_commit_failed', 'refused')
        }),
      ).rejects.toThrow(PaymentError)
      expect(await store.claimRequest(channelId, 'refused', Date.now() + 60_000)).toBeUndefined()
      await store.updateChannel(channelId, (state) => ({
        state: state!,
        result: undefined,
        completeRequest: { key: 'written', response, expiresAt: Date.now() + 60_000 },
      }))
      expect(await store.getRequest(channelId, 'written')).toEqual({ state: 'done', response })
    })

    it('serves every copy of one new voucher racing itself through the engine: served, or refused for balance, never as not increasing', async () => {
      const store = await open()
      const { outcomes, served, spents, state } = await burst(store, async (channelId) => {
        const copy = await engineFixture().voucher(channelId, 30_000n)
        return Array.from({ length: 40 }, () => copy)
      })
      expect(outcomes.filter((outcome) => outcome.status !== 200 && !balanceCodes.includes(outcome.code!))).toEqual([])
      // 29,000 more were authorized: exactly 29 requests of 1,000 served, each charged once, the rest refused for balance.
      expect(served).toBe(29)
      expect(spents.sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: 29 }, (_, i) => 2_000n + BigInt(i) * price))
      expect({ accepted: state.acceptedCumulative, spent: state.spent, reserved: reservedOf(state) }).toEqual({
        accepted: 30_000n,
        spent: 30_000n,
        reserved: 0n,
      })
    })

    it('serves a mix of equal and higher new vouchers racing each other: an overtaken voucher is served from the accepted state', async () => {
      const store = await open()
      const { outcomes, served, spents, state } = await burst(store, async (channelId) => {
        const fixture = engineFixture()
        const vouchers = await Promise.all([20_000n, 25_000n, 30_000n].map((amount) => fixture.voucher(channelId, amount)))
        return Array.from({ length: 36 }, (_, i) => vouchers[i % 3]!)
      })
      expect(outcomes.filter((outcome) => outcome.status !== 200 && !balanceCodes.includes(outcome.code!))).toEqual([])
      expect(served).toBeGreaterThanOrEqual(19)
      expect(served).toBeLessThanOrEqual(29)
      expect(state.acceptedCumulative).toBe(30_000n)
      expect(state.spent).toBe(1_000n + BigInt(served) * price)
      expect(new Set(spents).size).toBe(served)
      expect(reservedOf(state)).toBe(0n)
      assertInvariant(state)
    })
  })
}
