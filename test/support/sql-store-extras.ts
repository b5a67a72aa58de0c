// What the SQL store promises beyond the shared conformance suite: the very same
// error object back from a throwing update, the idempotent response written
// atomically with the charge, first inserts of a channel racing, sweeping.
import { describe, expect, it } from 'vitest'
import { acceptVoucher, type ChannelState, commit, release, reserve } from '../../src/session/channel.js'
import type { SqlSessionStore } from '../../src/stores/postgres.js'
import { freshChannelId, newChannel } from '../stores/conformance.js'

const signature = `0x${'11'.repeat(64)}1b` as const

export function describeSqlStoreExtras(name: string, open: () => SqlSessionStore) {
  describe(`SQL store: ${name}`, () => {
    it('rethrows the very error object an update throws, and writes nothing', async () => {
      const store = open()
      const channelId = freshChannelId()
      const error = new RangeError('refused')
      await expect(
        store.updateChannel(channelId, () => {
          throw error
        }),
      ).rejects.toBe(error)
      expect(await store.getChannel(channelId)).toBeUndefined()
    })

    it('writes a completed idempotency record with the charge, atomically: both or neither', async () => {
      const store = open()
      const channelId = freshChannelId()
      const far = Date.now() + 60_000
      await store.updateChannel(channelId, () => ({
        state: reserve(acceptVoucher(newChannel(channelId), { amount: 1_000n, signature }, { now: 0 }), 'r', 500n, far, Date.now()),
        result: undefined,
      }))
      const key = 'commit'
      expect(await store.claimRequest(channelId, key, far)).toBeUndefined()
      const response = { status: 200, headers: { 'Payment-Receipt': 'receipt' }, body: 'paid \u0000 answer é' }
      // A record that cannot be written (an expiry no column takes) rolls the charge back too.
      await expect(
        store.updateChannel(channelId, (current: ChannelState | undefined) => {
          const next = commit(current!, 'r', 300n, Date.now()).state
          return { state: next, result: undefined, completeRequest: { key, response, expiresAt: Number.NaN } }
        }),
      ).rejects.toThrow()
      expect(await store.getRequest(channelId, key)).toEqual({ state: 'pending' })
      expect((await store.getChannel(channelId))!.spent).toBe(0n)
      // A commit that succeeds writes both.
      const spent = await store.updateChannel(channelId, (current: ChannelState | undefined) => {
        const next = commit(current!, 'r', 300n, Date.now()).state
        return { state: next, result: next.spent, completeRequest: { key, response, expiresAt: far } }
      })
      expect(spent).toBe(300n)
      expect(await store.getRequest(channelId, key)).toEqual({ state: 'done', response })
      expect((await store.getChannel(channelId))!.spent).toBe(300n)
    })

    it('creates a channel once when many first updates race to insert it', async () => {
      const store = open()
      const channelId = freshChannelId()
      const created = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.updateChannel(channelId, (current: ChannelState | undefined) =>
            current === undefined ? { state: { ...newChannel(channelId), chainReadAt: i }, result: true } : { result: false },
          ),
        ),
      )
      expect(created.filter(Boolean)).toHaveLength(1)
      expect((await store.getChannel(channelId))?.chainReadAt).toBe(created.indexOf(true))
    })

    it('sweeps expired challenges and idempotency records, and never a live one', async () => {
      const store = open()
      const channelId = freshChannelId()
      const id = `sweep-${channelId}`
      expect(await store.consumeChallenge(`${id}-expired`, Date.now() - 1)).toBe(true)
      expect(await store.consumeChallenge(`${id}-live`, Date.now() + 60_000)).toBe(true)
      expect(await store.claimRequest(channelId, 'lapsed', Date.now() - 1)).toBeUndefined()
      expect(await store.claimRequest(channelId, 'pending', Date.now() + 60_000)).toBeUndefined()
      await store.sweep()
      // Forgotten once swept: the same expired id is new again; the live one is still used.
      expect(await store.consumeChallenge(`${id}-expired`, Date.now() + 60_000)).toBe(true)
      expect(await store.consumeChallenge(`${id}-live`, Date.now() + 60_000)).toBe(false)
      expect(await store.getRequest(channelId, 'pending')).toEqual({ state: 'pending' })
    })
  })
}

/**
 * Two stores on one database, as two gateway instances: each keeps the version
 * it last wrote to compare-and-set against, and must never decide on it once
 * the other has written.
 */
export function describeSqlStoreInstances(name: string, open: () => [SqlSessionStore, SqlSessionStore]) {
  describe(`SQL store, two instances on one database: ${name}`, () => {
    it('decides on the row as the other instance left it, not on what this one last wrote', async () => {
      const [a, b] = open()
      const channelId = freshChannelId()
      await a.updateChannel(channelId, () => ({
        state: acceptVoucher(newChannel(channelId), { amount: 1_000n, signature }, { now: 0 }),
        result: undefined,
      }))
      await b.updateChannel(channelId, (current: ChannelState | undefined) => ({
        state: acceptVoucher(current!, { amount: 2_000n, signature }, { now: 0 }),
        result: undefined,
      }))
      // Writes nothing: answered from a fresh read.
      expect(await a.updateChannel(channelId, (current: ChannelState | undefined) => ({ result: current!.acceptedCumulative }))).toBe(
        2_000n,
      )
      // Throws on what `a` last wrote (1,000 accepted), succeeds on the row (2,000): decided on the row, and b's voucher kept.
      await a.updateChannel(channelId, (current: ChannelState | undefined) => ({
        state: reserve(current!, 'r', 1_500n, Date.now() + 60_000, Date.now()),
        result: undefined,
      }))
      const state = (await b.getChannel(channelId))!
      expect(state.acceptedCumulative).toBe(2_000n)
      expect(state.reservations.r?.amount).toBe(1_500n)
    })

    it('writes no response with a charge that lost the race to the other instance', async () => {
      const [a, b] = open()
      const channelId = freshChannelId()
      const far = Date.now() + 60_000
      const opened = acceptVoucher(newChannel(channelId), { amount: 1_000n, signature }, { now: 0 })
      await a.updateChannel(channelId, () => ({ state: reserve(opened, 'r', 500n, far, Date.now()), result: undefined }))
      await b.updateChannel(channelId, (current: ChannelState | undefined) => ({ state: release(current!, 'r'), result: undefined }))
      expect(await a.claimRequest(channelId, 'k', far)).toBeUndefined()
      // Run first on what `a` last wrote (the reservation held), the charge loses the compare-and-set; on the row it is refused.
      const response = { status: 200, headers: {}, body: 'paid' }
      const refused = new Error('no reservation')
      await expect(
        a.updateChannel(channelId, (current: ChannelState | undefined) => {
          if (current!.reservations.r === undefined) throw refused
          return {
            state: commit(current!, 'r', 300n, Date.now()).state,
            result: undefined,
            completeRequest: { key: 'k', response, expiresAt: far },
          }
        }),
      ).rejects.toBe(refused)
      expect(await a.getRequest(channelId, 'k')).toEqual({ state: 'pending' })
      expect((await b.getChannel(channelId))!.spent).toBe(0n)
    })

    it('loses no write when both instances update one channel at once', async () => {
      const [a, b] = open()
      const channelId = freshChannelId()
      await a.updateChannel(channelId, () => ({ state: { ...newChannel(channelId), chainReadAt: 0 }, result: undefined }))
      const increment = (current: ChannelState | undefined) => ({
        state: { ...current!, chainReadAt: current!.chainReadAt + 1 },
        result: undefined,
      })
      await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).updateChannel(channelId, increment)))
      expect((await a.getChannel(channelId))!.chainReadAt).toBe(60)
    })

    it('shares rate limits: takes through both instances count against one window', async () => {
      const [a, b] = open()
      const key = `shared:${freshChannelId()}`
      const taken = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).takeRateLimit(key, 5, 60_000)))
      expect(taken.filter((wait) => wait === undefined)).toHaveLength(5)
      // Each instance now finds the window full.
      expect(await a.takeRateLimit(key, 5, 60_000)).toBeGreaterThanOrEqual(1)
      expect(await b.takeRateLimit(key, 5, 60_000)).toBeGreaterThanOrEqual(1)
    })
  })
}
