// What a payee close captures on each protocol (payee-transactions.ts:
// payeeCloseTerms) and when a forced close makes the sweeper act (sweep.ts:
// sweepReason), pure: v1 can only capture a voucher's whole amount, so it takes
// the highest accepted voucher not above `spent`; v2 captures `spent` exactly
// from the highest voucher, which covers it.
import { describe, expect, it } from 'vitest'
import * as Channel from '../../../src/session/channel.js'
import type { SessionContext } from '../../../src/session/context.js'
import { payeeCloseTerms } from '../../../src/session/payee-transactions.js'
import { sweepReason } from '../../../src/session/sweep.js'
import { placeholderSignature, testChannelId, testOnChainChannel } from '../../support/channel-state.js'

const on = (sessionProtocol: 'v1' | 'v2') => ({ settings: { sessionProtocol } }) as unknown as SessionContext

/** Accepted vouchers of 300 and 700, 500 spent, 100 settled. */
function channel(): Channel.ChannelState {
  const opened = Channel.fromChain(testChannelId, { ...testOnChainChannel, settled: 100n }, 0)
  return {
    ...opened,
    acceptedCumulative: 700n,
    vouchers: [
      { amount: 300n, signature: placeholderSignature(3) },
      { amount: 700n, signature: placeholderSignature(7) },
    ],
    spent: 500n,
  }
}

describe('payeeCloseTerms', () => {
  it('v1: the highest voucher not above spent, captured whole', () => {
    expect(payeeCloseTerms(on('v1'), channel())).toEqual({
      expectedSpent: 500n,
      amount: 300n,
      signature: placeholderSignature(3),
      capture: 300n,
    })
  })

  it('v2: exactly spent, from the highest voucher', () => {
    expect(payeeCloseTerms(on('v2'), channel())).toEqual({
      expectedSpent: 500n,
      amount: 700n,
      signature: placeholderSignature(7),
      capture: 500n,
    })
  })

  it('both: only what is settled, without a signature, when nothing more was spent', () => {
    const settledOnly = { ...channel(), spent: 100n }
    const expected = { expectedSpent: 100n, amount: 100n, signature: '0x', capture: 100n }
    expect(payeeCloseTerms(on('v1'), settledOnly)).toEqual(expected)
    expect(payeeCloseTerms(on('v2'), settledOnly)).toEqual(expected)
  })
})

describe('sweepReason on a forced close', () => {
  const settings = { settleThreshold: undefined, settleAfter: undefined, closeIdleAfter: undefined }
  // 250 spent, only a voucher of 300 accepted: v1 has nothing it may settle, v2 can capture the 250.
  const requested = { ...channel(), closeRequestedAt: 1n, spent: 250n, vouchers: [{ amount: 300n, signature: placeholderSignature(3) }] }

  it('v2 acts on any unsettled spend; v1 only on a voucher not above spent', () => {
    expect(sweepReason(requested, { ...settings, sessionProtocol: 'v2' }, 0)).toBe('close_requested')
    expect(sweepReason(requested, { ...settings, sessionProtocol: 'v1' }, 0)).toBeUndefined()
    expect(sweepReason({ ...requested, spent: 100n }, { ...settings, sessionProtocol: 'v2' }, 0)).toBeUndefined()
  })
})
