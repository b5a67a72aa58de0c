import type { Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import { readChain, resolvePending } from './chain-state.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'
import { FeeCapError } from './escrow.js'
import { rememberPending, unconfirmedTxHash } from './payee-transactions.js'
import { isFeeShortfall } from './readiness.js'

/**
 * What one settlement attempt did: sent and mined (`settled`), found nothing
 * accepted between `settled` and `spent` (`nothing`), or left it to a
 * settlement already in flight, here or on another instance (`busy`).
 */
export type SettleOutcome = { kind: 'settled'; txHash: Hex; amount: bigint } | { kind: 'nothing' } | { kind: 'busy' }

/**
 * How long a settlement of one voucher is claimed across the instances that
 * share the store: longer than a settle takes (simulate, fees, send, receipt:
 * about a second, each step bounded by the escrow's RPC timeout). One still in
 * flight after this may be sent again by another instance; the escrow then
 * refuses the second in simulation (or it reverts): never paid twice.
 */
const settlementClaimMs = 60_000

/**
 * Settles the channel on-chain up to the highest accepted voucher that does
 * not exceed `spent`; never more than was spent. Sends nothing when there is
 * nothing to settle, or when a settlement is in flight in this process, was
 * claimed for the same voucher by any instance sharing the store within
 * `settlementClaimMs`, or was sent earlier and is not mined yet (a settle
 * whose confirmation timed out is remembered and asked about first, so it is
 * never doubled). A settle the escrow refuses because the chain moved on
 * (settled by another transaction, closed) reads the chain into the store and
 * is `nothing`. A payee that cannot pay the fee is recorded in the readiness
 * before the error goes on.
 */
export async function settleOnce(ctx: SessionContext, channelId: Hex): Promise<SettleOutcome> {
  const held = await ctx.store.getChannel(channelId)
  if (held === undefined || held.finalized) return { kind: 'nothing' }
  if (held.pendingTransaction === undefined && Channel.settleableVoucher(held) === undefined) return { kind: 'nothing' }
  if (ctx.settling.has(channelId)) return { kind: 'busy' }
  ctx.settling.add(channelId)
  try {
    const state = await resolvePending(ctx, held)
    if (state === undefined) return { kind: 'busy' }
    const voucher = state.finalized || state.closing ? undefined : Channel.settleableVoucher(state)
    if (voucher === undefined) return { kind: 'nothing' }
    // A claim is the one take a window of this key admits: atomic across every instance on the store.
    const claimed = await ctx.store.takeRateLimit(`settle:${channelId}:${voucher.amount}`, 1, settlementClaimMs, channelId)
    if (claimed !== undefined) return { kind: 'busy' }
    let txHash: Hex
    try {
      ;({ txHash } = await ctx.escrow.settle(channelId, voucher.amount, voucher.signature, state.descriptor))
    } catch (error) {
      const sent = unconfirmedTxHash(error)
      if (sent !== undefined) await rememberPending(ctx, channelId, { kind: 'settle', txHash: sent, amount: voucher.amount })
      else if (await chainMovedOn(ctx, channelId, voucher.amount, error)) return { kind: 'nothing' }
      throw error
    }
    await readChain(ctx, channelId)
    return { kind: 'settled', txHash, amount: voucher.amount }
  } catch (error) {
    if (isFeeShortfall(error)) ctx.readiness.refused(error.cause.fees)
    throw error
  } finally {
    ctx.settling.delete(channelId)
  }
}

/**
 * Whether the escrow refused a settle of `amount` because the chain moved on:
 * the channel is settled at or past it, or closed. Reads the chain into the
 * store either way. Not for a refusal over fees (nothing about the channel changed).
 */
async function chainMovedOn(ctx: SessionContext, channelId: Hex, amount: bigint, error: unknown): Promise<boolean> {
  if (!(error instanceof PaymentError) || error.code !== 'mpp_session_close_failed' || error.cause instanceof FeeCapError) return false
  try {
    const fresh = await readChain(ctx, channelId)
    return fresh.finalized || fresh.settled >= amount
  } catch (readError) {
    if (readError instanceof PaymentError && readError.code === 'mpp_channel_finalized') return true
    return false
  }
}

/** `settleOnce` for callers that only ask whether a transaction was sent. */
export async function settle(ctx: SessionContext, channelId: Hex): Promise<{ txHash: Hex; amount: bigint } | undefined> {
  const outcome = await settleOnce(ctx, channelId)
  return outcome.kind === 'settled' ? { txHash: outcome.txHash, amount: outcome.amount } : undefined
}

/**
 * Settles until nothing accepted lies between `settled` and `spent`: requests
 * in flight that commit while a settlement is mined can make a higher voucher
 * settleable, and the grace period of a forced close is the last chance to
 * settle it. Each round settles a strictly higher voucher. Returns the last
 * settlement, else why none was sent.
 */
export async function settleAll(ctx: SessionContext, channelId: Hex): Promise<SettleOutcome> {
  let last: SettleOutcome | undefined
  for (;;) {
    // Re-read after each round (and after `settling` is cleared): a commit that found it set left its voucher to this loop.
    const outcome = await settleOnce(ctx, channelId)
    if (outcome.kind !== 'settled') return last ?? outcome
    last = outcome
  }
}

/**
 * Settles in the background (never affects the response): at once on a
 * channel whose payer requested a forced close, else once `settleThreshold`
 * is spent but unsettled. Not while the payee is known not to afford the fee:
 * one attempt per `readinessTtl`, not one per request.
 */
export function maybeSettle(ctx: SessionContext, state: Channel.ChannelState): void {
  const { settleThreshold, onBackgroundError } = ctx.settings
  if (!ctx.escrow.canSubmit || ctx.readiness.settlementHeld()) return
  if (state.closeRequestedAt !== 0n) {
    if (Channel.settleableVoucher(state) !== undefined) settleAll(ctx, state.channelId).catch(onBackgroundError)
    return
  }
  if (settleThreshold === undefined || state.spent - state.settled < settleThreshold) return
  settle(ctx, state.channelId).catch(onBackgroundError)
}
