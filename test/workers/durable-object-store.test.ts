// The Durable Objects store inside workerd: the shared conformance suite,
// unchanged, then what is specific to this adapter (compare-and-set,
// idempotency records completed with the state, sharding, expiry sweeps).
import { runDurableObjectAlarm } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { acceptVoucher, reservedOf } from '../../src/session/channel.js'
import { keyShardName, rateLimitShardName } from '../../src/stores/cloudflare/objects.js'
import { durableObjectStore } from '../../src/stores/cloudflare/store.js'
import { encodeChannel } from '../../src/stores/codec.js'
import { describeStoreConformance, freshChannelId, newChannel } from '../stores/conformance.js'
import { describeCursorConformance } from '../stores/cursor-conformance.js'

describeStoreConformance('durable objects', () => durableObjectStore(env))
// Two store instances stand for two isolates: only the objects are shared.
describeCursorConformance('durable objects', () => [durableObjectStore(env), durableObjectStore(env)])

const channelObject = (channelId: string) => env.CHANNELS.get(env.CHANNELS.idFromName(channelId))
const shardObject = (id: string) => env.KEY_SHARDS.get(env.KEY_SHARDS.idFromName(keyShardName(id)))
const signature = `0x${'11'.repeat(64)}1b` as const

describe('durable objects store: compare-and-set', () => {
  it('writes only over the version it read, and hands back the current row when that is stale', async () => {
    const channelId = freshChannelId()
    const stub = channelObject(channelId)
    expect(await stub.read()).toEqual({ version: 0, json: null })
    const first = JSON.stringify(encodeChannel(newChannel(channelId, 10n)))
    expect(await stub.compareAndSet(0, first)).toEqual({ written: true, version: 1 })
    const refused = await stub.compareAndSet(0, JSON.stringify(encodeChannel(newChannel(channelId, 20n))))
    expect(refused).toEqual({ written: false, current: { version: 1, json: first } })
    expect((await durableObjectStore(env).getChannel(channelId))?.deposit).toBe(10n)
  })

  it('linearizes updates racing from two Worker isolates: every increment lands once, conflicts are retried', async () => {
    const channelId = freshChannelId()
    let conflicts = 0
    // Two store instances stand for two isolates: no shared memory, only the channel's object.
    const [a, b] = [0, 1].map(() => durableObjectStore(env, { onConflict: () => conflicts++ }))
    await a!.updateChannel(channelId, () => ({
      state: acceptVoucher(newChannel(channelId), { amount: 1_000n, signature }, { now: 0 }),
      result: undefined,
    }))
    const increments = 30
    await Promise.all(
      Array.from({ length: increments }, (_, i) =>
        (i % 2 === 0 ? a! : b!).updateChannel(channelId, (current) => ({
          state: { ...current!, spent: current!.spent + 1n },
          result: undefined,
        })),
      ),
    )
    const state = (await a!.getChannel(channelId))!
    expect(state.spent).toBe(BigInt(increments))
    expect(reservedOf(state)).toBe(0n)
    // One write per update (the first write made version 1): losers rewrote nothing.
    expect((await channelObject(channelId).read()).version).toBe(1 + increments)
    expect(conflicts).toBeGreaterThan(0)
  })

  it('gives up with an error after maxAttempts lost compare-and-sets, writing nothing of its own', async () => {
    const channelId = freshChannelId()
    await durableObjectStore(env).updateChannel(channelId, () => ({ state: newChannel(channelId), result: undefined }))
    // A rival isolate writes between every read and compare-and-set of this store.
    const real = channelObject(channelId)
    const rival = {
      read: () => real.read(),
      async compareAndSet(version: number, json: string) {
        const row = await real.read()
        await real.compareAndSet(row.version, row.json!)
        return real.compareAndSet(version, json)
      },
    }
    const contended = {
      ...env,
      CHANNELS: { idFromName: (name: string) => env.CHANNELS.idFromName(name), get: () => rival },
    } as unknown as typeof env
    let runs = 0
    const update = durableObjectStore(contended, { maxAttempts: 3 }).updateChannel(channelId, (current) => {
      runs += 1
      return { state: { ...current!, spent: 7n }, result: undefined }
    })
    await expect(update).rejects.toThrow(/after 3 compare-and-set attempts/)
    expect(runs).toBe(3)
    expect((await durableObjectStore(env).getChannel(channelId))?.spent).toBe(0n)
  })
})

describe('durable objects store: idempotency records completed with the state', () => {
  const response = { status: 200, headers: { 'Payment-Receipt': 'eyJ4IjoxfQ' }, body: '{"ok":true}' }
  const put = (channelId: string) => ({ state: newChannel(channelId as `0x${string}`), result: undefined })

  it("writes a channel's record in the channel's own transaction, and none when the update throws", async () => {
    const store = durableObjectStore(env)
    const channelId = freshChannelId()
    const key = 'retry-1|POST /v1/mpp/chat/completions|sha-256=:x:'
    expect(await store.claimRequest(channelId, key, Date.now() + 60_000)).toBeUndefined()
    await expect(
      store.updateChannel(channelId, () => {
        throw new Error('refused')
      }),
    ).rejects.toThrow('refused')
    expect(await store.getRequest(channelId, key)).toEqual({ state: 'pending' })
    await store.updateChannel(channelId, () => ({ ...put(channelId), completeRequest: { key, response, expiresAt: Date.now() + 60_000 } }))
    expect(await store.getRequest(channelId, key)).toEqual({ state: 'done', response })
    // It lives with the channel.
    expect(await channelObject(channelId).inspect()).toMatchObject({ requests: 1 })
  })

  it('writes no record when the compare-and-set loses for good', async () => {
    const channelId = freshChannelId()
    const key = 'lost|POST /x|'
    const real = channelObject(channelId)
    await real.compareAndSet(0, JSON.stringify(encodeChannel(newChannel(channelId))))
    const rival = {
      read: () => real.read(),
      async compareAndSet(version: number, json: string, completed?: unknown) {
        const row = await real.read()
        await real.compareAndSet(row.version, row.json!)
        return real.compareAndSet(version, json, completed as undefined)
      },
      getRequest: (k: string) => real.getRequest(k),
    }
    const contended = {
      ...env,
      CHANNELS: { idFromName: (name: string) => env.CHANNELS.idFromName(name), get: () => rival },
    } as unknown as typeof env
    const update = durableObjectStore(contended, { maxAttempts: 2 }).updateChannel(channelId, () => ({
      ...put(channelId),
      completeRequest: { key, response, expiresAt: Date.now() + 60_000 },
    }))
    await expect(update).rejects.toThrow(/compare-and-set/)
    expect(await durableObjectStore(env).getRequest(channelId, key)).toBeUndefined()
  })

  it("sweeps a channel's expired records with the channel's alarm", async () => {
    const store = durableObjectStore(env)
    const channelId = freshChannelId()
    await store.updateChannel(channelId, () => put(channelId))
    await store.claimRequest(channelId, 'expired|r|', Date.now() - 1)
    await store.updateChannel(channelId, () => ({
      ...put(channelId),
      completeRequest: { key: 'live|r|', response, expiresAt: Date.now() + 60_000 },
    }))
    const object = channelObject(channelId)
    expect(await object.inspect()).toEqual({ requests: 2, expired: 1 })
    expect(await runDurableObjectAlarm(object)).toBe(true)
    expect(await object.inspect()).toEqual({ requests: 1, expired: 0 })
    expect((await store.getChannel(channelId))?.channelId).toBe(channelId)
  })
})

describe('durable objects store: rate limits', () => {
  const rateShard = (key: string) => env.KEY_SHARDS.get(env.KEY_SHARDS.idFromName(rateLimitShardName(key)))

  it('shares a window between two Worker-side stores, in the channel object for a channel key and in a shard otherwise', async () => {
    // Two store instances stand for two isolates: no shared memory, only the objects.
    const [a, b] = [durableObjectStore(env), durableObjectStore(env)]
    const channelId = freshChannelId()
    for (const [key, scope] of [
      [`voucher:${channelId}`, channelId],
      [`open:${channelId}`, undefined],
    ] as const) {
      const taken = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).takeRateLimit(key, 5, 60_000, scope)))
      expect(taken.filter((wait) => wait === undefined)).toHaveLength(5)
    }
    // Each window lives where the layout says: its object finds it full.
    expect(await channelObject(channelId).takeRateLimit(`voucher:${channelId}`, 5, 60_000)).toBeGreaterThanOrEqual(1)
    expect(await rateShard(`open:${channelId}`).takeRateLimit(`open:${channelId}`, 5, 60_000)).toBeGreaterThanOrEqual(1)
  })

  it("sweeps a shard's ended windows with its alarm", async () => {
    const key = `sweep:${freshChannelId()}`
    const shard = rateShard(key)
    expect(await durableObjectStore(env).takeRateLimit(key, 1, 1)).toBeUndefined()
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect((await shard.inspect()).ended).toBeGreaterThanOrEqual(1)
    expect(await runDurableObjectAlarm(shard)).toBe(true)
    expect((await shard.inspect()).ended).toBe(0)
  })
})

describe('durable objects store: challenge ids in shards, expiry', () => {
  it('spreads challenge ids over the 16 shards', () => {
    const names = new Set(Array.from({ length: 400 }, (_, i) => keyShardName(`challenge-${i}`)))
    expect(names.size).toBe(16)
    expect([...names].every((name) => /^challenge\/(\d|1[0-5])$/.test(name))).toBe(true)
  })

  it('treats an expired challenge id as absent', async () => {
    const store = durableObjectStore(env)
    const id = `lapsed-${freshChannelId()}`
    expect(await store.consumeChallenge(id, Date.now() - 1)).toBe(true)
    expect(await store.consumeChallenge(id, Date.now() + 60_000)).toBe(true)
    expect(await store.consumeChallenge(id, Date.now() + 60_000)).toBe(false)
  })

  it('sweeps expired challenge ids with the shard alarm, keeping live ones', async () => {
    const store = durableObjectStore(env)
    const key = `sweep-${freshChannelId()}`
    const challenges = shardObject(key)
    await store.consumeChallenge(key, Date.now() + 60_000)
    // Expired entries in the same shard: written directly, so no read removes them first.
    for (let i = 0; i < 5; i++) await challenges.consumeChallenge(`${key}-expired-${i}`, Date.now() - 1)
    expect((await challenges.inspect()).expired).toBeGreaterThanOrEqual(5)

    expect(await runDurableObjectAlarm(challenges)).toBe(true)
    expect((await challenges.inspect()).expired).toBe(0)
    expect(await store.consumeChallenge(key, Date.now() + 60_000)).toBe(false)
    // Live entries remain, so the shard re-armed its alarm.
    expect(await runDurableObjectAlarm(challenges)).toBe(true)
  })

  it('refuses missing bindings at construction, naming the binding', () => {
    expect(() => durableObjectStore({ CHANNELS: env.CHANNELS } as unknown as typeof env)).toThrow(/KEY_SHARDS/)
  })
})
