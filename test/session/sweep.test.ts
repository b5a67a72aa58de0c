import type { Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import { acceptVoucher, type ChannelState, commit, fromChain, reserve, withChain } from '../../src/session/channel.js'
import { nextSweepAt, sweepReason } from '../../src/session/sweep.js'
import { testOnChainChannel as chain, testChannelId as channelId, placeholderSignature as sig } from '../support/channel-state.js'

const none = { settleThreshold: undefined, settleAfter: undefined, closeIdleAfter: undefined }

/** A channel that accepted a voucher for `accepted` at t=0 and spent `spent` in one request committed at `at`. */
function spentChannel(accepted: bigint, spent: bigint, at = 10): ChannelState {
  const state = acceptVoucher(fromChain(channelId, chain, 0), { amount: accepted, signature: sig(1) }, { now: 0 })
  return commit(reserve(state, 'r', spent, at + 1_000, at), 'r', spent, at).state
}

describe('sweepReason', () => {
  it('settles past the threshold only what a voucher makes settleable', () => {
    const settings = { ...none, settleThreshold: 100n }
    expect(sweepReason(spentChannel(100n, 100n), settings, 20)).toBe('threshold')
    expect(sweepReason(spentChannel(100n, 99n), settings, 20)).toBeUndefined() // the only voucher is above spent
    expect(sweepReason(spentChannel(50n, 50n), settings, 20)).toBeUndefined() // settleable, below the threshold
  })

  it('settles spend older than settleAfter, from the first unsettled charge', () => {
    const state = spentChannel(100n, 100n, 10)
    expect(state.unsettledSince).toBe(10)
    const settings = { ...none, settleAfter: 1_000 }
    expect(sweepReason(state, settings, 1_009)).toBeUndefined()
    expect(sweepReason(state, settings, 1_010)).toBe('age')
    // Once the chain shows it all settled, there is no age any more.
    const settled = withChain(state, { ...chain, settled: 100n }, 20)
    expect(settled.unsettledSince).toBeUndefined()
    expect(sweepReason(settled, settings, 5_000)).toBeUndefined()
  })

  it('closes a channel idle past closeIdleAfter, counting reservations, commits and vouchers as activity', () => {
    const settings = { ...none, closeIdleAfter: 1_000 }
    const state = spentChannel(100n, 40n, 500)
    expect(sweepReason(state, settings, 1_499)).toBeUndefined()
    expect(sweepReason(state, settings, 1_500)).toBe('idle')
    // A request in flight: not idle, whatever the clock says.
    expect(sweepReason(reserve(state, 'live', 10n, 10_000, 1_500), settings, 1_600)).toBeUndefined()
    // An expired reservation does not keep it open.
    expect(sweepReason({ ...reserve(state, 'dead', 10n, 1_200, 500), activeAt: 500 }, settings, 1_600)).toBe('idle')
  })

  it('settles at once while a forced close is pending, and leaves finalized, closing or pending channels alone', () => {
    const state = spentChannel(100n, 100n)
    expect(sweepReason({ ...state, closeRequestedAt: 1n }, none, 20)).toBe('close_requested')
    expect(sweepReason({ ...spentChannel(100n, 99n), closeRequestedAt: 1n }, none, 20)).toBeUndefined()
    const all = { settleThreshold: 1n, settleAfter: 1, closeIdleAfter: 1 }
    expect(sweepReason({ ...state, finalized: true }, all, 10_000)).toBeUndefined()
    expect(sweepReason({ ...state, closing: true }, all, 10_000)).toBeUndefined()
    const pending = {
      ...state,
      pendingTransaction: { kind: 'settle' as const, txHash: sig(2).slice(0, 66) as Hex, amount: 100n, sentAt: 0 },
    }
    expect(sweepReason(pending, all, 10_000)).toBeUndefined()
  })
})

describe('nextSweepAt', () => {
  const all = { settleThreshold: 1_000n, settleAfter: 1_000, closeIdleAfter: 5_000 }

  it('is the first time sweepReason names a reason, when nothing else happens to the channel', () => {
    const cases: [ChannelState, typeof all][] = [
      [spentChannel(100n, 100n, 10), all], // age at 1,010
      [spentChannel(100n, 99n, 10), all], // nothing settleable: idle at 5,010
      [spentChannel(100n, 100n, 10), { ...all, settleThreshold: 100n }], // threshold: at once
      [spentChannel(100n, 100n, 10), { ...all, settleAfter: 100_000 }], // idle before age
    ]
    for (const [state, settings] of cases) {
      const due = nextSweepAt(state, settings, 20)
      expect(due).toBeDefined()
      const at = Math.max(due!, 20)
      expect(sweepReason(state, settings, at)).toBeDefined()
      if (at > 20) expect(sweepReason(state, settings, at - 1)).toBeUndefined()
    }
    expect(nextSweepAt(spentChannel(100n, 100n, 10), all, 20)).toBe(1_010)
    expect(nextSweepAt(spentChannel(100n, 99n, 10), all, 20)).toBe(5_010)
  })

  it('is never for a finalized channel or one no limit applies to, at once while something waits on the chain', () => {
    const state = spentChannel(100n, 100n)
    expect(nextSweepAt({ ...state, finalized: true }, all, 20)).toBeUndefined()
    expect(nextSweepAt(state, none, 20)).toBeUndefined()
    expect(nextSweepAt({ ...spentChannel(100n, 99n), closeRequestedAt: 1n }, all, 20)).toBeUndefined()
    // v2 captures exactly spent from any covering voucher: a forced close is due at once.
    expect(nextSweepAt({ ...spentChannel(100n, 99n), closeRequestedAt: 1n }, { ...all, sessionProtocol: 'v2' }, 20)).toBe(20)
    expect(nextSweepAt({ ...state, closeRequestedAt: 1n }, none, 20)).toBe(20)
    expect(nextSweepAt({ ...state, closing: true }, none, 20)).toBe(20)
  })
})
