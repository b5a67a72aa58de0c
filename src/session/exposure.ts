// What a channel is worth to the payee, and the operator's cap on what it
// serves ahead of settlement (README: Operating a payee). Under v1 the payee
// settles only vouchers the payer signed, so what it serves between two
// accepted vouchers cannot be settled until the higher one is reached.
// `maxUnsettledExposure` caps how far ahead of `spent` a new voucher may reach.
// It never asks the payer to authorize more: a refused voucher is answered
// with the highest one the payee takes, which is lower.
import type { Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import * as Channel from './channel.js'
import { type ChannelState, settleableVoucher } from './channel.js'
import type { SessionContext } from './context.js'

/** What a channel is worth to the payee right now (README: Operating a payee), in base units. */
export type ChannelExposure = {
  /** Settleable now: the highest accepted voucher not above `spent`, less what is settled. */
  settleable: bigint
  /** Served but not yet settled on chain: `spent − settled`, lost if the channel closes without a settlement. */
  exposure: bigint
}

export function channelExposure(state: ChannelState): ChannelExposure {
  const voucher = settleableVoucher(state)
  return { settleable: voucher === undefined ? 0n : voucher.amount - state.settled, exposure: state.spent - state.settled }
}

/** `open`, `closing` (a close is being sent), `close_requested` (the payer's forced close is pending) or `finalized`. */
export function channelStatus(state: ChannelState): 'open' | 'closing' | 'close_requested' | 'finalized' {
  if (state.finalized) return 'finalized'
  if (state.closing) return 'closing'
  if (state.closeRequestedAt > 0n) return 'close_requested'
  return 'open'
}

/** Where a channel stands for a new voucher: spent, accepted, what this request needs (`spent + reserved + quote`), the deposit. */
export type VoucherPosition = { channelId: Hex; spent: bigint; acceptedCumulative: bigint; requiredCumulative: bigint; deposit: bigint }

/** The position of `state` for a request quoted at `quote` (0 for a voucher top-up). */
export const voucherPosition = (state: ChannelState, quote: bigint): VoucherPosition => ({
  channelId: state.channelId,
  spent: state.spent,
  acceptedCumulative: state.acceptedCumulative,
  requiredCumulative: Channel.requiredCumulative(state, quote),
  deposit: state.deposit,
})

/**
 * The highest new voucher the payee takes at `position`: `cap` above what is
 * spent, or what the request needs (rounded up to a bucket, within the
 * deposit) when that is more. So the payer is never authorized far ahead of
 * the service, and whatever it signs, a settleable voucher trails `spent` by
 * less than the cap (or one request's need). Pure.
 */
export function voucherCeiling(position: VoucherPosition, cap: bigint, bucketSize: bigint): bigint {
  const needed = Channel.bucketed(position.requiredCumulative, bucketSize, position.deposit)
  const ahead = position.spent + cap
  return needed > ahead ? needed : ahead
}

/** Refuses a voucher of `amount` above the ceiling when the operator set a cap; nothing is accepted. */
export function assertWithinExposureLimit(ctx: SessionContext, position: VoucherPosition, amount: bigint): void {
  const { maxUnsettledExposure: cap, bucketSize } = ctx.settings
  if (cap === undefined || amount <= position.acceptedCumulative) return
  const maxCumulative = voucherCeiling(position, cap, bucketSize)
  if (amount <= maxCumulative) return
  const needed = Channel.bucketed(position.requiredCumulative, bucketSize, position.deposit)
  throw new PaymentError(
    'mpp_voucher_exceeds_exposure_limit',
    `The voucher authorizes more than this payee serves ahead of settlement; sign one for at most ${maxCumulative} and retry.`,
    {
      extensions: {
        channelId: position.channelId,
        acceptedCumulative: position.acceptedCumulative,
        maxCumulative,
        requiredCumulative: needed > position.acceptedCumulative ? needed : position.acceptedCumulative,
      },
    },
  )
}
