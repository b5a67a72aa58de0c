import type { Hex } from 'viem'
import { readChain } from './chain-state.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'
import { isFeeShortfall } from './readiness.js'

/**
 * Settles the channel on-chain up to the highest accepted voucher that does
 * not exceed `spent`; never more than was spent. Returns undefined when there
 * is nothing to settle (or a settlement of it is already in flight here).
 * A payee that cannot pay the fee is recorded in the readiness before the error goes on.
 */
export async function settle(ctx: SessionContext, channelId: Hex): Promise<{ txHash: Hex; amount: bigint } | undefined> {
  const state = await ctx.store.getChannel(channelId)
  const voucher = state && !state.finalized ? Channel.settleableVoucher(state) : undefined
  if (voucher === undefined || ctx.settling.has(channelId)) return undefined
  ctx.settling.add(channelId)
  try {
    const { txHash } = await ctx.escrow.settle(channelId, voucher.amount, voucher.signature)
    await readChain(ctx, channelId)
    return { txHash, amount: voucher.amount }
  } catch (error) {
    if (isFeeShortfall(error)) ctx.readiness.refused(error.cause.fees)
    throw error
  } finally {
    ctx.settling.delete(channelId)
  }
}

/**
 * Settles in the background once `settleThreshold` is spent but unsettled (never affects the response).
 * Not while the payee is known not to afford the fee: one attempt per `readinessTtl`, not one per request.
 */
export function maybeSettle(ctx: SessionContext, state: Channel.ChannelState): void {
  const { settleThreshold, onBackgroundError } = ctx.settings
  if (settleThreshold === undefined || !ctx.escrow.canSubmit || ctx.readiness.settlementHeld()) return
  if (state.spent - state.settled < settleThreshold) return
  settle(ctx, state.channelId).catch(onBackgroundError)
}
