// `close` (session spec §Cooperative Close): the server closes on chain,
// capturing exactly what service consumed (or what is already settled), never
// a pre-authorized surplus. The v1 escrow pays the voucher's amount, so the
// close voucher must be for exactly that capture; the v2 precompile captures
// an amount of its own (`captureAmount`), so any voucher covering it closes.
import type { Hex } from 'viem'
import { PaymentError } from '../../errors/payment-error.js'
import type { Authorization } from '../../payment/method.js'
import type { Credential } from '../../protocol/credential.js'
import { readChain, resolvePending } from '../chain-state.js'
import * as Channel from '../channel.js'
import type { SessionContext } from '../context.js'
import { FeeCapError } from '../escrow.js'
import { takeNewChannel } from '../new-channel-limit.js'
import { closeOnChain, unconfirmedTxHash } from '../payee-transactions.js'
import type { SessionPayment } from '../payment.js'
import { assertSource } from '../policy.js'
import { isFeeShortfall } from '../readiness.js'
import { assertSignedBy, voucherSignature } from '../verify.js'
import { type ActionParameters, receiptAnswer } from './action.js'

export async function close(ctx: SessionContext, parameters: ActionParameters<'close'>): Promise<Authorization<SessionPayment>> {
  const { credential, payload } = parameters
  const { channelId } = payload
  const held = await ctx.store.getChannel(channelId)
  if (held === undefined) await takeNewChannel(ctx, parameters.paid.client)
  else if (held.pendingTransaction !== undefined) {
    // A retried close whose first transaction was mined after its timeout gets that close's receipt; nothing is sent again.
    const resolved = await settledPending(ctx, held)
    if (held.pendingTransaction.kind === 'close' && resolved.finalized && resolved.closeTxHash === held.pendingTransaction.txHash) {
      assertSource(ctx, credential, resolved)
      return closedReceipt(ctx, credential, resolved, resolved.closeTxHash)
    }
  }
  const state = await readChain(ctx, channelId, payload.descriptor)
  Channel.assertUsable(state)
  assertSource(ctx, credential, state)
  const capture = state.spent > state.settled ? state.spent : state.settled
  const v2 = ctx.settings.sessionProtocol === 'v2'
  if (v2 ? payload.cumulativeAmount < capture : payload.cumulativeAmount !== capture) {
    const sign = v2 ? `Sign the close voucher for at least ${capture}` : `Sign the close voucher for exactly ${capture}`
    throw new PaymentError('mpp_payment_verification_failed', `${sign}, the amount spent.`, {
      extensions: { channelId, requiredCumulative: capture, acceptedCumulative: state.acceptedCumulative },
    })
  }
  const amount = payload.cumulativeAmount
  const signature = voucherSignature(ctx, payload.signature, payload.channelId)
  await assertSignedBy(ctx, { channelId, amount, signature }, Channel.expectedSigner(state), 'close voucher')
  if (!ctx.escrow.canSubmit) {
    throw new PaymentError('mpp_session_close_unavailable', 'This server has no close signer configured; the channel stays open.', {
      extensions: { channelId },
    })
  }
  try {
    const { state: closed, txHash } = await closeOnChain(ctx, channelId, { expectedSpent: state.spent, amount, signature, capture })
    return closedReceipt(ctx, credential, closed, txHash)
  } catch (error) {
    throw closeError(ctx, channelId, error)
  }
}

/** The channel with its earlier payee transaction resolved; one still in flight is a close to retry shortly. */
async function settledPending(ctx: SessionContext, state: Channel.ChannelState): Promise<Channel.ChannelState> {
  const resolved = await resolvePending(ctx, state)
  if (resolved !== undefined) return resolved
  throw new PaymentError(
    'mpp_session_close_failed',
    'A settle or close of this channel is still waiting to be mined; retry the close shortly.',
    {
      extensions: { channelId: state.channelId },
    },
  )
}

function closedReceipt(
  ctx: SessionContext,
  credential: Credential,
  closed: Channel.ChannelState,
  txHash: Hex,
): Authorization<SessionPayment> {
  return receiptAnswer(ctx, credential, closed, { receipt: { txHash }, amounts: { captured: closed.settled } })
}

/** What a failed close tells the client: the channel's state after it, and whether retrying can help. */
function closeError(ctx: SessionContext, channelId: Hex, error: unknown): PaymentError {
  if (isFeeShortfall(error)) {
    // Nothing was sent, and no retry can succeed until the operator funds the payee.
    ctx.readiness.refused(error.cause.fees)
    return new PaymentError(
      'mpp_session_close_unavailable',
      `${error.detail} The channel stays open and usable; close it again once the payee is funded.`,
      { extensions: { channelId }, events: ['payee_cannot_pay_fees'], cause: error.cause },
    )
  }
  if (!(error instanceof PaymentError)) {
    return new PaymentError('mpp_session_close_failed', 'The close transaction failed; the channel stays open. Retry the close.', {
      extensions: { channelId },
      cause: error,
    })
  }
  if (error.code === 'mpp_session_close_unavailable' || error.code === 'mpp_channel_not_found') return error
  const txHash = unconfirmedTxHash(error)
  if (txHash !== undefined) {
    return new PaymentError(
      'mpp_chain_unavailable',
      'The close transaction was sent but is not confirmed yet; retry the close to pick up its outcome.',
      { extensions: { channelId, txHash }, cause: error },
    )
  }
  if (error.cause instanceof FeeCapError) {
    return new PaymentError(
      'mpp_session_close_failed',
      `${error.detail} The channel stays open; retry the close when the base fee falls.`,
      {
        extensions: { channelId },
        cause: error.cause,
      },
    )
  }
  if (error.code === 'mpp_session_close_failed' && error.extensions?.channelId === channelId) return error
  return new PaymentError('mpp_session_close_failed', 'The close transaction failed; the channel stays open. Retry the close.', {
    extensions: { channelId },
    cause: error,
  })
}
