import { describe, expect, it } from 'vitest'
import {
  acceptVoucher,
  assertInvariant,
  chargeWindow,
  endStream,
  fromChain,
  InsufficientAuthorization,
  reserve,
  reservedOf,
} from '../../src/session/channel.js'
import { testOnChainChannel as chain, testChannelId as channelId, placeholderSignature } from '../support/channel-state.js'

const sig = placeholderSignature(1)

const accepted = (amount: bigint) => acceptVoucher(fromChain(channelId, chain, 0), { amount, signature: sig }, { now: 0 })

describe('metered stream accounting', () => {
  it('charges a window from the reservation first, then from the available balance, renewing the reservation', () => {
    const reserved = reserve(accepted(500n), 's', 100n, 10, 0)
    const first = chargeWindow(reserved, 's', 60n, 20, 1)
    expect([first.spent, reservedOf(first), first.reservations.s!.expiresAt]).toEqual([60n, 40n, 20])
    const second = chargeWindow(first, 's', 100n, 30, 2)
    expect([second.spent, reservedOf(second)]).toEqual([160n, 0n])
    assertInvariant(second)
  })

  it('refuses a window the accepted vouchers cannot cover, naming the cumulative amount needed', () => {
    const state = chargeWindow(reserve(accepted(100n), 's', 100n, 10, 0), 's', 100n, 10, 0)
    let thrown: unknown
    try {
      chargeWindow(state, 's', 30n, 10, 0)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(InsufficientAuthorization)
    expect((thrown as InsufficientAuthorization).required).toBe(130n)
  })

  it('ends a stream at what was delivered: the unused part of the last window back, the reservation freed', () => {
    const state = chargeWindow(reserve(accepted(500n), 's', 300n, 10, 0), 's', 100n, 10, 0)
    const ended = endStream(state, 's', 100n, 70n, 1)
    expect([ended.state.spent, ended.charged, reservedOf(ended.state)]).toEqual([70n, 70n, 0n])
  })

  it('gives nothing back below what settled on chain', () => {
    const state = { ...chargeWindow(reserve(accepted(500n), 's', 300n, 10, 0), 's', 100n, 10, 0), settled: 90n }
    expect(endStream(state, 's', 100n, 0n, 1).state.spent).toBe(90n)
  })

  it('charges more than the windows only as far as the available balance covers', () => {
    const state = chargeWindow(reserve(accepted(150n), 's', 100n, 10, 0), 's', 100n, 10, 0)
    const ended = endStream(state, 's', 100n, 400n, 1)
    expect([ended.state.spent, ended.charged]).toEqual([150n, 150n])
    assertInvariant(ended.state)
  })
})
