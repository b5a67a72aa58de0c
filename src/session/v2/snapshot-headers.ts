// The response headers a v2 session's receipt travels with
// (draft-tempo-session §Session Snapshot): `Payment-Session`, the reusable
// channel's id, and `Payment-Session-Snapshot`, the channel as the server
// accounts it right after the receipt's write. v1 channels get none.
import type { ReceiptHeaders } from '../../payment/method.js'
import { type ChannelState, requiredCumulative } from '../channel.js'
import type { SessionContext } from '../context.js'
import { formatSnapshot, sessionHeader, snapshotHeader, snapshotOf } from './snapshot.js'

/** The snapshot headers of `state`, the state its receipt reports: none for a v1 channel (no descriptor). */
export function snapshotHeaders(ctx: SessionContext, state: ChannelState): ReceiptHeaders {
  if (state.descriptor === undefined) return {}
  const { escrow, chainId } = ctx.voucherContext
  // What is charged and held on the channel: the least cumulative voucher the server needs now.
  const snapshot = snapshotOf(state, { escrow, chainId, requiredCumulative: requiredCumulative(state, 0n) })
  return { [sessionHeader]: state.channelId, [snapshotHeader]: formatSnapshot(snapshot) }
}
