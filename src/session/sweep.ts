// What the settlement sweeper does to one channel (README: Operating a
// payee): settle what is settleable once it passes the threshold or its oldest
// unsettled charge passes the age limit, settle at once while a forced close is
// pending (the close watcher's backstop), and settle-and-close a channel idle
// past the limit (session spec §Settlement Timing). Each is decided afresh from
// the store, so any instance may sweep any channel at any time.
import type { Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import { readChain, resolvePending } from './chain-state.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'
import type { SessionSettings } from './options.js'
import { closeOnChain, payeeCloseTerms } from './payee-transactions.js'
import { type SettleOutcome, settleAll, settleOnce } from './settlement.js'

/** Why a channel is swept: a pending forced close, the settle threshold, the age of its unsettled spend, or idleness. */
export type SweepReason = 'close_requested' | 'threshold' | 'age' | 'idle'

/**
 * What sweeping a channel did: settled, closed (`amount`: what the close
 * captured in all), found nothing to send, left it to a transaction in flight
 * (`busy`), or sent nothing because the payee cannot (`held`: it cannot pay
 * the fee now; `unavailable`: no payee key).
 */
export type SweepOutcome = SettleOutcome | ClosedOutcome | { kind: 'held' | 'unavailable' }

/** A payee close sent and mined; `amount`: what the channel captured in all. */
export type ClosedOutcome = { kind: 'closed'; txHash: Hex; amount: bigint }

/** When the channel was last used: a request reserved or committed, or a voucher was accepted (ms). */
export const lastActivity = (state: Channel.ChannelState) =>
  state.activeAt !== undefined && state.activeAt > state.acceptedAt ? state.activeAt : state.acceptedAt

/** The limits the sweeper acts on, and the protocol (v1 when absent), which decides what a forced close can capture. */
export type SweepSettings = Pick<SessionSettings, 'settleThreshold' | 'settleAfter' | 'closeIdleAfter'> &
  Partial<Pick<SessionSettings, 'sessionProtocol'>>

/**
 * During a forced close, whether the payee has something to capture: v2
 * closes capturing exactly `spent` whatever the vouchers' amounts; v1 settles
 * an accepted voucher not above it.
 */
const capturable = (state: Channel.ChannelState, settings: SweepSettings) =>
  settings.sessionProtocol === 'v2' ? state.spent > state.settled : Channel.settleableVoucher(state) !== undefined

/** Why the sweeper should act on `state` now, if it should. Pure. */
export function sweepReason(state: Channel.ChannelState, settings: SweepSettings, now: number): SweepReason | undefined {
  if (state.finalized || state.closing || state.pendingTransaction !== undefined) return undefined
  const voucher = Channel.settleableVoucher(state)
  if (state.closeRequestedAt !== 0n) return capturable(state, settings) ? 'close_requested' : undefined
  const { settleThreshold, settleAfter, closeIdleAfter } = settings
  const idle = Object.keys(Channel.withoutExpired(state, now).reservations).length === 0
  if (closeIdleAfter !== undefined && idle && now - lastActivity(state) >= closeIdleAfter) return 'idle'
  if (voucher === undefined) return undefined
  if (settleThreshold !== undefined && voucher.amount - state.settled >= settleThreshold) return 'threshold'
  if (settleAfter !== undefined && state.unsettledSince !== undefined && now - state.unsettledSince >= settleAfter) return 'age'
  return undefined
}

/**
 * The earliest time (ms) at which `sweepReason` may name a reason for `state`
 * without anything else happening to it; `undefined` when only a new event
 * (a request, a voucher, a close request) can give it one. A time not after
 * `now`: due at once. What schedules a channel's own sweep (on Workers, its
 * Durable Object's alarm). Pure.
 */
export function nextSweepAt(state: Channel.ChannelState, settings: SweepSettings, now: number): number | undefined {
  if (state.finalized) return undefined
  // A transaction left unconfirmed is resolved by the next sweep, as is a close in flight.
  if (state.closing || state.pendingTransaction !== undefined) return now
  if (state.closeRequestedAt !== 0n) return capturable(state, settings) ? now : undefined
  const voucher = Channel.settleableVoucher(state)
  const { settleThreshold, settleAfter, closeIdleAfter } = settings
  const times: number[] = []
  if (closeIdleAfter !== undefined) times.push(lastActivity(state) + closeIdleAfter)
  if (voucher !== undefined) {
    if (settleThreshold !== undefined && voucher.amount - state.settled >= settleThreshold) times.push(now)
    if (settleAfter !== undefined && state.unsettledSince !== undefined) times.push(state.unsettledSince + settleAfter)
  }
  return times.length === 0 ? undefined : Math.min(...times)
}

/**
 * Sweeps one channel: first resolves a payee transaction left unconfirmed,
 * then acts on `sweepReason`. `undefined` when there is nothing to do.
 * Settlement and close errors reach the caller (the store keeps the channel
 * as it was, or `closing` with a close that may still be mined).
 */
export async function sweepChannel(
  ctx: SessionContext,
  channelId: Hex,
): Promise<{ reason: SweepReason; outcome: SweepOutcome } | undefined> {
  const held = await ctx.store.getChannel(channelId)
  if (held === undefined || held.finalized) return undefined
  const state = await resolvePending(ctx, held)
  if (state === undefined) return undefined
  const reason = sweepReason(state, ctx.settings, ctx.settings.now())
  if (reason === undefined) return undefined
  if (!ctx.escrow.canSubmit) return { reason, outcome: { kind: 'unavailable' } }
  if (ctx.readiness.settlementHeld()) return { reason, outcome: { kind: 'held' } }
  switch (reason) {
    case 'close_requested':
      return {
        reason,
        outcome: ctx.settings.sessionProtocol === 'v2' ? await payeeClose(ctx, channelId, 'now') : await settleAll(ctx, channelId),
      }
    case 'threshold':
    case 'age':
      return { reason, outcome: await settleOnce(ctx, channelId) }
    case 'idle':
      return { reason, outcome: await payeeClose(ctx, channelId, 'idle') }
  }
}

/**
 * Closes a channel for the payee (`idle`: only if it is still idle):
 * captures the highest accepted voucher not above `spent` (or just what is
 * settled, where the escrow needs no signature) and refunds the payer the
 * rest. Re-reads the chain first: a channel someone closed is left alone;
 * one in use, closing or with a pending forced close is `busy`.
 */
export async function payeeClose(ctx: SessionContext, channelId: Hex, when: 'idle' | 'now'): Promise<SweepOutcome> {
  let state: Channel.ChannelState
  try {
    state = await readChain(ctx, channelId)
  } catch (error) {
    if (error instanceof PaymentError && error.code === 'mpp_channel_finalized') return { kind: 'nothing' }
    throw error
  }
  if (when === 'idle' && sweepReason(state, ctx.settings, ctx.settings.now()) !== 'idle') return { kind: 'nothing' }
  try {
    const { state: closed, txHash } = await closeOnChain(ctx, channelId, payeeCloseTerms(ctx, state))
    return { kind: 'closed', txHash, amount: closed.settled }
  } catch (error) {
    // Closing from another instance (or closed), or used again meanwhile (closeOnChain's refusal names the channel): left alone.
    const raced =
      error instanceof PaymentError &&
      (error.code === 'mpp_channel_finalized' || (error.code === 'mpp_session_close_failed' && error.extensions?.channelId === channelId))
    if (raced) return { kind: 'busy' }
    throw error
  }
}
