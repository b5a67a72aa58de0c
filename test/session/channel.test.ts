import { describe, expect, it } from 'vitest'
import { PaymentError } from '../../src/errors/payment-error.js'
import {
  acceptVoucher,
  assertInvariant,
  commit,
  fromChain,
  InsufficientAuthorization,
  release,
  reserve,
  reservedOf,
  settleableVoucher,
  withChain,
} from '../../src/session/channel.js'
import { testOnChainChannel as chain, testChannelId as channelId, placeholderSignature as sig } from '../support/channel-state.js'

const fresh = () => fromChain(channelId, chain, 0)

function codeOf(fn: () => unknown) {
  try {
    fn()
  } catch (error) {
    return error instanceof PaymentError ? error.code : (error as Error).name
  }
  return 'no error'
}

describe('channel accounting', () => {
  it('accepts only increasing vouchers within the deposit', () => {
    const state = acceptVoucher(fresh(), { amount: 100n, signature: sig(1) }, { now: 1 })
    expect(state.acceptedCumulative).toBe(100n)
    expect(codeOf(() => acceptVoucher(state, { amount: 100n, signature: sig(2) }, { now: 2 }))).toBe('mpp_payment_verification_failed')
    expect(acceptVoucher(state, { amount: 101n, signature: sig(2) }, { now: 2 }).acceptedCumulative).toBe(101n)
    // Above the deposit: a shortfall the engine turns into a top-up request.
    expect(() => acceptVoucher(state, { amount: 1_001n, signature: sig(2) }, { now: 2 })).toThrow(
      expect.objectContaining({ name: 'InsufficientAuthorization', required: 1_001n }),
    )
    expect(codeOf(() => acceptVoucher({ ...state, closeRequestedAt: 5n }, { amount: 200n, signature: sig(2) }, { now: 2 }))).toBe(
      'mpp_channel_finalized',
    )
  })

  it('reserves within the accepted amount, commits at most the reservation, releases for free', () => {
    let state = acceptVoucher(fresh(), { amount: 300n, signature: sig(1) }, { now: 0 })
    state = reserve(state, 'a', 200n, 1_000, 0)
    expect(() => reserve(state, 'b', 101n, 1_000, 0)).toThrow(InsufficientAuthorization)
    state = reserve(state, 'b', 100n, 1_000, 0)
    expect(reservedOf(state)).toBe(300n)
    assertInvariant(state)
    const committed = commit(state, 'a', 500n, 1)
    expect(committed.charged).toBe(200n)
    state = release(committed.state, 'b')
    expect({ spent: state.spent, reserved: reservedOf(state) }).toEqual({ spent: 200n, reserved: 0n })
    assertInvariant(state)
  })

  it('reports the cumulative amount a refused reservation needs', () => {
    const state = reserve(acceptVoucher(fresh(), { amount: 300n, signature: sig(1) }, { now: 0 }), 'a', 250n, 1_000, 0)
    try {
      reserve(state, 'b', 100n, 1_000, 0)
      expect.unreachable()
    } catch (error) {
      expect((error as InsufficientAuthorization).required).toBe(350n)
    }
  })

  it('drops expired reservations, and charges a late commit only while the authorization covers it', () => {
    let state = acceptVoucher(fresh(), { amount: 100n, signature: sig(1) }, { now: 0 })
    state = reserve(state, 'slow', 100n, 10, 0)
    // The slow request's reservation lapsed; another request takes the authorization.
    state = reserve(state, 'next', 100n, 1_000, 20)
    expect(Object.keys(state.reservations)).toEqual(['next'])
    expect(codeOf(() => commit(state, 'slow', 100n, 30))).toBe('mpp_commit_failed')
    const late = commit(release(state, 'next'), 'slow', 60n, 30)
    expect(late.state.spent).toBe(60n)
  })

  it('never settles above spent: picks the highest accepted voucher not above it', () => {
    let state = fresh()
    for (const amount of [100n, 200n, 300n]) state = acceptVoucher(state, { amount, signature: sig(Number(amount)) }, { now: 0 })
    expect(settleableVoucher(state)).toBeUndefined()
    state = commit(reserve(state, 'a', 250n, 1_000, 0), 'a', 250n, 0).state
    expect(settleableVoucher(state)?.amount).toBe(200n)
    state = withChain(state, { ...chain, settled: 200n }, 5)
    expect(settleableVoucher(state)).toBeUndefined()
    expect(state.vouchers.map((v) => v.amount)).toEqual([300n])
  })

  it('treats a new channel read from the chain as spent up to what is settled', () => {
    const state = fromChain(channelId, { ...chain, settled: 400n }, 0)
    expect({ accepted: state.acceptedCumulative, spent: state.spent }).toEqual({ accepted: 400n, spent: 400n })
    assertInvariant(state)
  })

  it('ignores a chain read older than the one it has', () => {
    const state = withChain(fresh(), { ...chain, deposit: 2_000n }, 10)
    expect(withChain(state, { ...chain, deposit: 1_000n }, 5).deposit).toBe(2_000n)
  })
})
