// One signer recovery per distinct voucher: the per-process module
// (src/session/recoveries.ts) counted call by call, then the engine, where
// copies of one voucher take one unit of the channel's rate limit.
import type { Address } from 'viem'
import { describe, expect, it } from 'vitest'
import { PaymentError } from '../../src/errors/payment-error.js'
import { recoveries } from '../../src/session/recoveries.js'
import { memoryStore } from '../../src/stores/memory.js'
import type { SessionStore } from '../../src/stores/store.js'
import { engineFixture, problem } from '../support/engine.js'

const signer = '0x1111111111111111111111111111111111111111' as Address
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A recovery that counts its runs and resolves when the test says so. */
function gatedRecovery() {
  let runs = 0
  const gates: { open: () => void; fail: (error: unknown) => void }[] = []
  const recover = () => {
    runs++
    return new Promise<Address>((resolve, reject) => gates.push({ open: () => resolve(signer), fail: reject }))
  }
  return { recover, runs: () => runs, gates }
}

describe('recoveries: one per distinct voucher in a process', () => {
  it('shares one recovery among concurrent copies, remembers its signer for the TTL, and keeps distinct vouchers apart', async () => {
    let time = 0
    const cache = recoveries({ capacity: 8, ttlMs: 1_000, joinTimeoutMs: 60_000, now: () => time })
    const { recover, runs, gates } = gatedRecovery()
    const copies = Array.from({ length: 20 }, () => cache.signer('a', recover))
    const other = cache.signer('b', recover)
    expect(runs()).toBe(2)
    for (const gate of gates) gate.open()
    expect(await Promise.all([...copies, other])).toEqual(Array(21).fill(signer))
    // Later copies find it, until the TTL ends.
    time = 999
    expect(await cache.signer('a', recover)).toBe(signer)
    expect(runs()).toBe(2)
    time = 2_000
    const again = cache.signer('a', recover)
    expect(runs()).toBe(3)
    gates[2]!.open()
    expect(await again).toBe(signer)
  })

  it('holds at most `capacity` vouchers, dropping the least recently used', async () => {
    const cache = recoveries({ capacity: 2, ttlMs: 60_000, joinTimeoutMs: 60_000, now: () => 0 })
    let runs = 0
    const recover = async () => {
      runs++
      return signer
    }
    await cache.signer('a', recover)
    await cache.signer('b', recover)
    await cache.signer('a', recover) // a is now the most recent
    await cache.signer('c', recover) // drops b
    expect(runs).toBe(3)
    await cache.signer('a', recover)
    await cache.signer('c', recover)
    expect(runs).toBe(3)
    await cache.signer('b', recover)
    expect(runs).toBe(4)
  })

  it('gives a failed recovery to every copy that waited for it, and remembers nothing of it', async () => {
    const cache = recoveries({ capacity: 8, ttlMs: 60_000, joinTimeoutMs: 60_000, now: () => 0 })
    const { recover, runs, gates } = gatedRecovery()
    const copies = Array.from({ length: 5 }, () => cache.signer('a', recover))
    gates[0]!.fail(new PaymentError('mpp_rate_limited', 'slow down', { retryAfter: 1 }))
    const outcomes = await Promise.allSettled(copies)
    expect(outcomes.map((outcome) => outcome.status === 'rejected' && (outcome.reason as PaymentError).code)).toEqual(
      Array(5).fill('mpp_rate_limited'),
    )
    expect(runs()).toBe(1)
    const retried = cache.signer('a', recover)
    expect(runs()).toBe(2)
    gates[1]!.open()
    expect(await retried).toBe(signer)
  })

  it('stops waiting for a recovery that never settles (its request cancelled): a copy recovers on its own, and later copies wait for that one', async () => {
    const cache = recoveries({ capacity: 8, ttlMs: 60_000, joinTimeoutMs: 20, now: () => 0 })
    const { recover, runs, gates } = gatedRecovery()
    void cache.signer('a', recover) // never settles
    const late = Promise.all([cache.signer('a', recover), cache.signer('a', recover)])
    await sleep(40)
    // Both copies gave up on the stalled one; the first started its own, the second joined it.
    expect(runs()).toBe(2)
    gates[1]!.open()
    expect(await late).toEqual([signer, signer])
    expect(await cache.signer('a', recover)).toBe(signer)
    expect(runs()).toBe(2)
  })
})

/** The memory store on clock `now`, counting the rate-limit takes of voucher keys: each is one recovery (it runs only after its take). */
function countingStore(now: () => number = Date.now) {
  const memory = memoryStore({ now })
  let takes = 0
  const store: SessionStore = {
    ...memory,
    takeRateLimit: (key, limit, windowMs, channelId) => {
      if (key.startsWith('voucher:')) takes++
      return memory.takeRateLimit(key, limit, windowMs, channelId)
    },
  }
  return { store, takes: () => takes }
}

describe('the engine: copies of one voucher cost one recovery and one unit of the rate limit', () => {
  it('serves 50 concurrent copies of a new voucher with one recovery, under a limit of 3 a second; later copies cost none', async () => {
    const { store, takes } = countingStore()
    const { pay, openPayload, voucher, challengeFor } = engineFixture({ store, verificationsPerSecond: 3 })
    const { channelId, payload } = await openPayload(100_000n)
    expect((await pay(payload)).status).toBe(200)
    expect(takes()).toBe(1) // the open's initial voucher
    const copy = await voucher(channelId, 60_000n)
    const challenges = await Promise.all(Array.from({ length: 50 }, () => challengeFor()))
    const responses = await Promise.all(challenges.map((challenge) => pay(copy, undefined, challenge)))
    expect(responses.map((response) => response.status)).toEqual(Array(50).fill(200))
    expect(takes()).toBe(2)
    expect((await pay(copy)).status).toBe(200)
    expect(takes()).toBe(2)
  })

  it('counts distinct vouchers, not copies: 3 vouchers × 10 copies are 3 recoveries, the 4th distinct one in the second is refused', async () => {
    let time = Date.now()
    const { store, takes } = countingStore(() => time)
    const { pay, openPayload, voucher, challengeFor } = engineFixture({ store, verificationsPerSecond: 4, now: () => time })
    const { channelId, payload } = await openPayload(100_000n)
    expect((await pay(payload)).status).toBe(200)
    const vouchers = await Promise.all([20_000n, 30_000n, 40_000n].map((amount) => voucher(channelId, amount)))
    const challenges = await Promise.all(Array.from({ length: 30 }, () => challengeFor()))
    const responses = await Promise.all(challenges.map((challenge, i) => pay(vouchers[i % 3]!, undefined, challenge)))
    expect(responses.map((response) => response.status)).toEqual(Array(30).fill(200))
    expect(takes()).toBe(4)
    const limited = await pay(await voucher(channelId, 50_000n))
    expect(limited.status).toBe(429)
    expect(await problem(limited)).toMatchObject({ code: 'mpp_rate_limited', channelId })
    time += 1_000
    expect((await pay(await voucher(channelId, 50_000n))).status).toBe(200)
  })
})
