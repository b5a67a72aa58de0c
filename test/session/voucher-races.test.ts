// Vouchers racing each other (docs/flow.md §Vouchers racing each other), on the
// fast fixture: a voucher is judged against the state it was verified against;
// one overtaken before its write, by a copy of itself or a higher voucher, is
// served from the accepted state instead of being refused as not increasing.
import { Secp256k1, Signature } from 'ox'
import type { Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import { voucherDigest } from '../../src/session/v1/voucher.js'
import { memoryStore } from '../../src/stores/memory.js'
import type { SessionStore } from '../../src/stores/store.js'
import { engineFixture, problem, voucherContext } from '../support/engine.js'

/** A memory store that records every advance of a stored channel's accepted amount, in order (the open's first). */
function recordingStore() {
  const memory = memoryStore()
  const accepted: bigint[] = []
  const store: SessionStore = {
    ...memory,
    updateChannel: (channelId, update) =>
      memory.updateChannel(channelId, (current) => {
        const next = update(current)
        if (current !== undefined && next.state !== undefined && next.state.acceptedCumulative !== current.acceptedCumulative) {
          accepted.push(next.state.acceptedCumulative)
        }
        return next
      }),
  }
  return { store, accepted }
}

/** Another valid signature of the same voucher: the payer's key with fresh nonce entropy (low s, as ox signs). */
function otherSignature(channelId: Hex, amount: bigint): Hex {
  const payload = voucherDigest(voucherContext, { channelId, cumulativeAmount: amount })
  const privateKey = `0x${'01'.padStart(64, '0')}` as const
  const signature = Secp256k1.sign({ payload, privateKey, extraEntropy: true })
  return Signature.toHex(signature)
}

describe('vouchers racing each other', () => {
  it('takes a voucher equal to the accepted amount as a retry, with its own or another valid signature of the payer, during or after the write that accepted it', async () => {
    const { store, accepted } = recordingStore()
    const { pay, openPayload, voucher } = engineFixture({ store })
    const { channelId, payload } = await openPayload()
    expect((await pay(payload)).status).toBe(200)
    const first = await voucher(channelId, 20_000n)
    const second = { ...first, signature: otherSignature(channelId, 20_000n) }
    expect(second.signature).not.toBe(first.signature)
    // Both verified against 10,000: one writes 20,000, the other finds it written and is served from it.
    const racing = await Promise.all([pay(first), pay(second)])
    expect(racing.map((response) => response.status)).toEqual([200, 200])
    expect(accepted).toEqual([10_000n, 20_000n])
    // After the write: either signature again is a retry.
    expect((await pay(second)).status).toBe(200)
    expect((await pay(first)).status).toBe(200)
    expect((await store.getChannel(channelId))?.acceptedCumulative).toBe(20_000n)
  })

  it('serves a new voucher overtaken by a higher one from the accepted state, and counts the minimum delta from the state it was verified against', async () => {
    const { store, accepted } = recordingStore()
    const { pay, openPayload, voucher } = engineFixture({ store, minVoucherDelta: 5_000n })
    const { channelId, payload } = await openPayload()
    expect((await pay(payload)).status).toBe(200)
    const [low, high] = await Promise.all([voucher(channelId, 16_000n), voucher(channelId, 19_000n)])
    // Both verified against 10,000 (each adds at least 5,000): 16,000 is written first, then 19,000 over it.
    const lowFirst = await Promise.all([pay(low), pay(high)])
    expect(lowFirst.map((response) => response.status)).toEqual([200, 200])
    expect(accepted).toEqual([10_000n, 16_000n, 19_000n])
    // Not racing, 19,000 → 20,000 adds less than the minimum delta.
    expect(await problem(await pay(await voucher(channelId, 20_000n)))).toMatchObject({
      code: 'mpp_payment_verification_failed',
      type: 'https://paymentauth.org/problems/session/delta-too-small',
    })
    // The higher one written first: the lower one, verified against the same 19,000, is served from 30,000.
    const [lower, higher] = await Promise.all([voucher(channelId, 25_000n), voucher(channelId, 30_000n)])
    const highFirst = await Promise.all([pay(higher), pay(lower)])
    expect(highFirst.map((response) => response.status)).toEqual([200, 200])
    expect(accepted).toEqual([10_000n, 16_000n, 19_000n, 30_000n])
    expect(await store.getChannel(channelId)).toMatchObject({ acceptedCumulative: 30_000n, spent: 5_000n })
  })

  it('still refuses a voucher below the accepted amount it was verified against, naming that amount, and one above the deposit', async () => {
    const { pay, openPayload, voucher } = engineFixture()
    const { channelId, payload } = await openPayload(100_000n)
    expect((await pay(payload)).status).toBe(200)
    expect((await pay(await voucher(channelId, 20_000n))).status).toBe(200)
    const stale = await pay(await voucher(channelId, 15_000n))
    expect(stale.status).toBe(402)
    expect(await problem(stale)).toMatchObject({ code: 'mpp_payment_verification_failed', channelId, acceptedCumulative: '20000' })
    expect(await problem(await pay(await voucher(channelId, 100_001n)))).toMatchObject({
      code: 'mpp_session_deposit_below_request_cost',
      deposit: '100000',
    })
  })
})
