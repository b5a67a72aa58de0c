import type { Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'
import { takeNewChannel } from './new-channel-limit.js'
import { assertOurs } from './policy.js'

/** Merges a fresh read of the channel from the escrow into the store. */
export async function readChain(ctx: SessionContext, channelId: Hex): Promise<Channel.ChannelState> {
  const readAt = ctx.settings.now()
  const chain = await ctx.escrow.getChannel(channelId)
  if (chain === undefined) {
    throw new PaymentError('mpp_channel_not_found', 'No such channel on the escrow.', { extensions: { channelId } })
  }
  if (chain.finalized && /^0x0{40}$/.test(chain.payer)) {
    // The deployed escrow deletes a closed channel and keeps only `finalized`: nothing else to merge.
    await ctx.update(channelId, (state) => ({ ...(state ? { state: { ...state, finalized: true } } : {}), result: undefined }))
    throw new PaymentError('mpp_channel_finalized', 'The channel is closed.', { extensions: { channelId } })
  }
  assertOurs(ctx, channelId, chain)
  return ctx.update(channelId, (state) => {
    const next = state === undefined ? Channel.fromChain(channelId, chain, readAt) : Channel.withChain(state, chain, readAt)
    return { state: next, result: next }
  })
}

/**
 * The channel's state, with on-chain fields no older than the cache lifetime.
 * A channel the store does not hold is read from the chain for `client`: it
 * counts against that address's budget of new channels.
 */
export async function loadChannel(ctx: SessionContext, channelId: Hex, client: string | undefined): Promise<Channel.ChannelState> {
  const state = await ctx.store.getChannel(channelId)
  if (state === undefined) await takeNewChannel(ctx, client)
  if (state !== undefined && (state.finalized || ctx.settings.now() - state.chainReadAt < ctx.settings.chainCacheTtl)) return state
  return readChain(ctx, channelId)
}

/**
 * `state`, or a read of the chain when its read is older than `maxAge` (ms).
 * Concurrent callers share one read in flight: a burst on one channel costs
 * one RPC call, and a read started moments ago is as fresh as a new one.
 */
export function recentChain(ctx: SessionContext, state: Channel.ChannelState, maxAge: number): Promise<Channel.ChannelState> {
  const { channelId } = state
  if (ctx.settings.now() - state.chainReadAt <= maxAge) return Promise.resolve(state)
  let read = ctx.chainReads.get(channelId)
  if (read === undefined) {
    read = readChain(ctx, channelId).finally(() => ctx.chainReads.delete(channelId))
    ctx.chainReads.set(channelId, read)
  }
  return read
}
