// The payee's own transactions (settle, close) when their confirmation timed
// out: sent, maybe mined later, maybe dropped. The store remembers such a
// transaction (`pendingTransaction`; a close keeps the channel `closing`) and every
// later settlement, close or reconciliation asks the chain what became of it
// before acting again: a late transaction is never doubled by a second one,
// and a dropped one never blocks the channel for good.
import type { Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'

/**
 * How long a payee transaction the node does not know (never arrived, or
 * dropped) is still waited for before the channel is acted on again: longer
 * than a transaction takes to propagate. The same window as a settlement claim.
 */
export const payeeTransactionWaitMs = 60_000

/** The hash of a payee transaction that was (or may have been) sent but whose outcome is unknown, from the escrow's error. */
export function unconfirmedTxHash(error: unknown): Hex | undefined {
  if (!(error instanceof PaymentError) || error.code !== 'mpp_chain_unavailable') return undefined
  const txHash = error.extensions?.txHash
  return typeof txHash === 'string' ? (txHash as Hex) : undefined
}

/** The channel once a close for `amount` is mined: finalized, everything up to `amount` settled. */
export function closed(state: Channel.ChannelState, amount: bigint, txHash: Hex): Channel.ChannelState {
  return {
    ...state,
    closing: false,
    finalized: true,
    settled: amount > state.settled ? amount : state.settled,
    vouchers: [],
    closeTxHash: txHash,
  }
}

/** Records a payee transaction sent but not confirmed, so whatever acts next on the channel asks the chain about it first. */
export async function rememberPending(
  ctx: SessionContext,
  channelId: Hex,
  pending: Omit<Channel.PendingTransaction, 'sentAt'>,
): Promise<void> {
  const sentAt = ctx.settings.now()
  await ctx.update(channelId, (current) => ({
    ...(current === undefined ? {} : { state: { ...current, pendingTransaction: { ...pending, sentAt } } }),
    result: undefined,
  }))
}

/**
 * What a payee close of `state` sends, capturing as much of `spent` as the
 * escrow lets it: v1 pays a voucher's whole amount, so it captures the highest
 * accepted voucher not above `spent`; v2 captures any amount a voucher covers,
 * so exactly `max(spent, settled)` with the highest accepted voucher (which
 * covers `spent` by the invariant). At `settled` no voucher is needed (`0x`).
 */
export function payeeCloseTerms(ctx: SessionContext, state: Channel.ChannelState): CloseTerms {
  const settledOnly = { expectedSpent: state.spent, amount: state.settled, signature: '0x' as Hex, capture: state.settled }
  if (ctx.settings.sessionProtocol === 'v2') {
    const highest = state.vouchers.at(-1)
    if (state.spent <= state.settled || highest === undefined) return settledOnly
    return { expectedSpent: state.spent, amount: highest.amount, signature: highest.signature, capture: state.spent }
  }
  const voucher = Channel.settleableVoucher(state)
  if (voucher === undefined) return settledOnly
  return { expectedSpent: state.spent, amount: voucher.amount, signature: voucher.signature, capture: voucher.amount }
}

/**
 * A close: the voucher (`amount`, `signature`) and what it captures (`capture` ≤ `amount`; v1 always `amount`),
 * sent only while `spent` is still `expectedSpent`.
 */
export type CloseTerms = { expectedSpent: bigint; amount: bigint; signature: Hex; capture: bigint }

/**
 * Closes the channel on chain capturing `capture` with the voucher for `amount` (its signature; `0x` at or
 * below `settled`, where the escrow verifies none), marking it `closing` first
 * so no new reservation is made while the close is sent. Refused with
 * `mpp_session_close_failed` when requests are in flight or `spent` moved past
 * `expectedSpent`. On failure the channel serves again, except when the close
 * may have been sent: then it stays `closing` with the transaction's hash
 * until `resolvePending` learns its outcome. Returns the finalized state.
 */
export async function closeOnChain(
  ctx: SessionContext,
  channelId: Hex,
  close: CloseTerms,
): Promise<{ state: Channel.ChannelState; txHash: Hex }> {
  const descriptor = await ctx.update(channelId, (current) => {
    if (current === undefined)
      throw new PaymentError('mpp_channel_not_found', 'No such channel in the store.', { extensions: { channelId } })
    // One close at a time, across the instances on the store: a second finds the channel closing. A payer's
    // pending forced close does not stop it: the grace period is the payee's last chance to capture what was spent.
    if (current.finalized || current.closing) {
      throw new PaymentError('mpp_channel_finalized', current.finalized ? 'The channel is closed.' : 'The channel is being closed.', {
        extensions: { channelId },
      })
    }
    if (Object.keys(current.reservations).length > 0 || current.spent !== close.expectedSpent) {
      throw new PaymentError('mpp_session_close_failed', 'Requests on this channel are still in flight; retry the close shortly.', {
        extensions: { channelId },
      })
    }
    return { state: { ...current, closing: true }, result: current.descriptor }
  })
  // v2 closes by descriptor; one missing there is refused by the escrow as malformed, nothing sent.
  const v2 = ctx.settings.sessionProtocol === 'v2' && descriptor !== undefined ? { descriptor, captureAmount: close.capture } : undefined
  let txHash: Hex
  try {
    ;({ txHash } = await ctx.escrow.close(channelId, close.amount, close.signature, v2))
  } catch (error) {
    const sent = unconfirmedTxHash(error)
    if (sent !== undefined) await rememberPending(ctx, channelId, { kind: 'close', txHash: sent, amount: close.capture })
    else await ctx.update(channelId, (current) => ({ ...(current ? { state: { ...current, closing: false } } : {}), result: undefined }))
    throw error
  }
  const state = await ctx.update(channelId, (current) => {
    if (current === undefined) throw new PaymentError('mpp_commit_failed', 'The channel vanished from the store.')
    const next = closed(current, close.capture, txHash)
    return { state: next, result: next }
  })
  return { state, txHash }
}
