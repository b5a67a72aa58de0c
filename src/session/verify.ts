import type { Address, Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import { readChain } from './chain-state.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'
import { signerMismatch, verificationFailed } from './errors.js'
import { orShortfall } from './shortfall.js'
import { canonicalSignature, recoverVoucherSigner } from './v1/voucher.js'

/**
 * Recovers a voucher's signer, at most `verificationsPerSecond` times per
 * channel per second across every instance sharing the store: signature
 * recovery is the costly step.
 */
export async function recoverSigner(ctx: SessionContext, channelId: Hex, amount: bigint, signature: Hex): Promise<Address> {
  const retryAfter = await ctx.rateLimit(`voucher:${channelId}`, ctx.settings.verificationsPerSecond, 1_000, channelId)
  if (retryAfter !== undefined) {
    throw new PaymentError('mpp_rate_limited', 'Too many vouchers on this channel; slow down.', { retryAfter, extensions: { channelId } })
  }
  return recoverVoucherSigner(ctx.voucherContext, { channelId, cumulativeAmount: amount, signature })
}

/** Throws unless `signature` over (`channelId`, `amount`) recovers to `signer`. */
export async function assertSignedBy(
  ctx: SessionContext,
  voucher: { channelId: Hex; amount: bigint; signature: Hex },
  signer: Address,
  what: string,
): Promise<void> {
  if ((await recoverSigner(ctx, voucher.channelId, voucher.amount, voucher.signature)) !== signer) {
    throw signerMismatch(what, voucher.channelId)
  }
}

/**
 * Verifies a voucher against the channel and persists it when it advances the
 * channel. Cheap checks first: a stale or repeated voucher costs no ECDSA.
 * Returns whether the accepted amount advanced.
 */
export async function verifyVoucher(
  ctx: SessionContext,
  initial: Channel.ChannelState,
  amount: bigint,
  rawSignature: Hex,
): Promise<{ state: Channel.ChannelState; advanced: boolean }> {
  const { minVoucherDelta } = ctx.settings
  let state = initial
  const signature = canonicalSignature(rawSignature)
  if (amount < state.acceptedCumulative) {
    throw verificationFailed(`The voucher amount is below the accepted cumulative amount ${state.acceptedCumulative}.`, state.channelId)
  }
  const latest = state.vouchers.at(-1)
  if (amount === state.acceptedCumulative && latest?.signature === signature) return { state, advanced: false }
  if (amount > state.acceptedCumulative) {
    if (amount - state.acceptedCumulative < minVoucherDelta) {
      throw verificationFailed(`The voucher must add at least ${minVoucherDelta}.`, state.channelId, 'session/delta-too-small')
    }
    // The payer may have topped up since the last read.
    if (amount > state.deposit) state = await readChain(ctx, state.channelId)
    await orShortfall(ctx, true, async () => Channel.assertWithinDeposit(state, amount))
  }
  Channel.assertUsable(state)
  await assertSignedBy(ctx, { channelId: state.channelId, amount, signature }, Channel.expectedSigner(state), 'voucher')
  if (amount === state.acceptedCumulative) return { state, advanced: false }
  const accepted = await orShortfall(ctx, true, () =>
    ctx.update(state.channelId, (current) => {
      const next = Channel.acceptVoucher(current ?? state, { amount, signature }, { minDelta: minVoucherDelta, now: ctx.settings.now() })
      return { state: next, result: next }
    }),
  )
  return { state: accepted, advanced: true }
}
