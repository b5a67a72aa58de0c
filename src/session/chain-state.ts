import type { Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'
import { takeNewChannel } from './new-channel-limit.js'
import { closed, payeeTransactionWaitMs } from './payee-transactions.js'
import { assertOurs } from './policy.js'
import type { ChannelDescriptor } from './v2/descriptor.js'

/**
 * Merges a fresh read of the channel from the escrow into the store. v2 reads by the channel's descriptor:
 * `descriptor` (a credential's, already checked to derive `channelId`), else the one the store holds. The
 * precompile deletes a closed channel, so a v2 channel the store holds that reads as missing was closed.
 */
export async function readChain(ctx: SessionContext, channelId: Hex, descriptor?: ChannelDescriptor): Promise<Channel.ChannelState> {
  const readAt = ctx.settings.now()
  const v2 = ctx.settings.sessionProtocol === 'v2'
  const v2Descriptor = descriptor ?? (v2 ? (await ctx.store.getChannel(channelId))?.descriptor : undefined)
  const chain = await ctx.escrow.getChannel(channelId, v2Descriptor)
  if (chain === undefined) {
    if (v2 && (await ctx.store.getChannel(channelId)) !== undefined) {
      await ctx.update(channelId, (state) => ({ ...(state ? { state: { ...state, finalized: true } } : {}), result: undefined }))
      throw new PaymentError('mpp_channel_finalized', 'The channel is closed.', { extensions: { channelId } })
    }
    throw new PaymentError('mpp_channel_not_found', 'No such channel on the escrow.', { extensions: { channelId } })
  }
  if (chain.finalized && /^0x0{40}$/.test(chain.payer)) {
    // The deployed escrow deletes a closed channel and keeps only `finalized`: nothing else to merge.
    await ctx.update(channelId, (state) => ({ ...(state ? { state: { ...state, finalized: true } } : {}), result: undefined }))
    throw new PaymentError('mpp_channel_finalized', 'The channel is closed.', { extensions: { channelId } })
  }
  assertOurs(ctx, channelId, chain)
  return ctx.update(channelId, (state) => {
    const next = state === undefined ? Channel.fromChain(channelId, chain, readAt, v2Descriptor) : Channel.withChain(state, chain, readAt)
    return { state: next, result: next }
  })
}

/**
 * The channel's state, with on-chain fields no older than the cache lifetime.
 * A channel the store does not hold is read from the chain for `client`: it
 * counts against that address's budget of new channels. v2: `descriptor` is the credential's.
 */
export async function loadChannel(
  ctx: SessionContext,
  channelId: Hex,
  client: string | undefined,
  descriptor?: ChannelDescriptor,
): Promise<Channel.ChannelState> {
  const held = await ctx.store.getChannel(channelId)
  if (held === undefined) await takeNewChannel(ctx, client)
  // A payee settle or close that timed out is asked about before serving: a dropped close must not block the channel.
  const state = held?.pendingTransaction === undefined ? held : ((await resolvePending(ctx, held)) ?? held)
  if (state !== undefined && (state.finalized || ctx.settings.now() - state.chainReadAt < ctx.settings.chainCacheTtl)) return state
  return readChain(ctx, channelId, descriptor)
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
    read = readChain(ctx, channelId, state.descriptor).finally(() => ctx.chainReads.delete(channelId))
    ctx.chainReads.set(channelId, read)
  }
  return read
}

/**
 * Resolves the channel's unconfirmed payee transaction, if any: still in
 * flight → `undefined` (act later); mined, reverted or dropped → cleared (a
 * close no longer pending lets the channel serve again) and the chain read
 * into the store (a mined settle shows as `settled`, a mined close as
 * `finalized`). Returns the channel as it stands after that.
 * `mpp_chain_unavailable` when the chain cannot be read.
 */
export async function resolvePending(ctx: SessionContext, state: Channel.ChannelState): Promise<Channel.ChannelState | undefined> {
  const pending = state.pendingTransaction
  if (pending === undefined) return state
  const status = await ctx.escrow.transactionStatus(pending.txHash)
  if (status === 'pending') return undefined
  if (status === 'unknown' && ctx.settings.now() - pending.sentAt < payeeTransactionWaitMs) return undefined
  await ctx.update(state.channelId, (current) => {
    if (current?.pendingTransaction?.txHash !== pending.txHash) return { result: undefined }
    const { pendingTransaction: _, ...rest } = current
    if (pending.kind === 'settle') return { state: rest, result: undefined }
    return { state: status === 'success' ? closed(rest, pending.amount, pending.txHash) : { ...rest, closing: false }, result: undefined }
  })
  try {
    return await readChain(ctx, state.channelId)
  } catch (error) {
    // Closed on chain (this close, mined late, or anyone's): the store now says finalized.
    if (error instanceof PaymentError && error.code === 'mpp_channel_finalized')
      return (await ctx.store.getChannel(state.channelId)) ?? state
    throw error
  }
}
