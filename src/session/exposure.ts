import { type ChannelState, settleableVoucher } from './channel.js'

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
