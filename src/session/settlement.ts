import type { Hex } from 'viem'
import { readChain } from './chain-state.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'

/**
 * Settles the channel on-chain up to the highest accepted voucher that does
 * not exceed `spent`; never more than was spent. Returns undefined when there
 * is nothing to settle (or a settlement of it is already in flight here).
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
  } finally {
    ctx.settling.delete(channelId)
  }
}

/** Settles in the background once `settleThreshold` is spent but unsettled (never affects the response). */
export function maybeSettle(ctx: SessionContext, state: Channel.ChannelState): void {
  const { settleThreshold, onBackgroundError } = ctx.settings
  if (settleThreshold === undefined || !ctx.escrow.canSubmit) return
  if (state.spent - state.settled < settleThreshold) return
  settle(ctx, state.channelId).catch(onBackgroundError)
}
