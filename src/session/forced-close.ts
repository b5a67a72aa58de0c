// A payer's forced close (session spec §Forced Close): once `requestClose` is
// on chain the payer can take back everything unsettled after the grace
// period, so the gateway stops serving the channel (the store then says
// `closeRequestedAt != 0`, which `Channel.assertUsable` refuses: no new
// reservation or voucher; requests in flight still commit) and settles at once
// what was spent and is covered by an accepted voucher. On v2 it closes instead,
// capturing exactly `spent` from the highest voucher (the precompile's close
// takes a capture amount; its settle, like v1's, only a voucher's whole amount),
// and refunds the rest: the payer's withdraw then has nothing left to take.
import type { Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import { readChain } from './chain-state.js'
import type { SessionContext } from './context.js'
import { type SettleOutcome, settleAll } from './settlement.js'
import { type ClosedOutcome, payeeClose } from './sweep.js'

/**
 * What following a channel's close state on chain found and did:
 * - `unknown`: the store holds no such channel (nothing was served on it here), or it vanished from the chain;
 * - `closed`: it is finalized;
 * - `open`: no forced close is pending (none, or it was cancelled by a top-up; the channel serves again);
 * - `close_requested`: one is pending; `settlement` says what was settled (`held`: not tried, the payee
 *   cannot pay the fee now; `unavailable`: no payee key is configured to settle), on v2 what the close
 *   captured (`closed`), or `busy` while requests are in flight.
 */
export type CloseFollowUp =
  | { kind: 'unknown' | 'closed' | 'open' }
  | { kind: 'close_requested'; closeRequestedAt: bigint; settlement: SettleOutcome | { kind: 'held' | 'unavailable' } | ClosedOutcome }

/**
 * Reads the channel afresh from the chain into the store (a pending forced
 * close is then refused by every instance sharing the store; a cancelled one
 * serves again), and while a forced close is pending settles the highest
 * accepted vouchers not above `spent`. Idempotent: any instance may call it
 * any number of times; a settlement in flight elsewhere is left to it (`busy`).
 */
export async function followCloseRequest(ctx: SessionContext, channelId: Hex): Promise<CloseFollowUp> {
  const held = await ctx.store.getChannel(channelId)
  if (held === undefined) return { kind: 'unknown' }
  if (held.finalized) return { kind: 'closed' }
  let state: Awaited<ReturnType<typeof readChain>>
  try {
    state = await readChain(ctx, channelId)
  } catch (error) {
    if (error instanceof PaymentError && error.code === 'mpp_channel_finalized') return { kind: 'closed' }
    if (error instanceof PaymentError && error.code === 'mpp_channel_not_found') return { kind: 'unknown' }
    throw error
  }
  if (state.finalized) return { kind: 'closed' }
  if (state.closeRequestedAt === 0n) return { kind: 'open' }
  const { closeRequestedAt } = state
  if (!ctx.escrow.canSubmit) return { kind: 'close_requested', closeRequestedAt, settlement: { kind: 'unavailable' } }
  if (ctx.readiness.settlementHeld()) return { kind: 'close_requested', closeRequestedAt, settlement: { kind: 'held' } }
  if (ctx.settings.sessionProtocol === 'v2') {
    const settlement = state.spent > state.settled ? await payeeClose(ctx, channelId, 'now') : ({ kind: 'nothing' } as const)
    return { kind: 'close_requested', closeRequestedAt, settlement }
  }
  return { kind: 'close_requested', closeRequestedAt, settlement: await settleAll(ctx, channelId) }
}
