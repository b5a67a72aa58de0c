// `close` (session spec §Cooperative Close): the server closes on chain,
// capturing exactly what service consumed (or what is already settled), never
// a pre-authorized surplus. The v1 escrow pays the voucher's amount, so the
// close voucher must be for exactly that capture.
import type { Hex } from 'viem'
import { PaymentError } from '../../errors/payment-error.js'
import type { Authorization } from '../../payment/method.js'
import { readChain } from '../chain-state.js'
import * as Channel from '../channel.js'
import type { SessionContext } from '../context.js'
import { FeeCapError } from '../escrow.js'
import { takeNewChannel } from '../new-channel-limit.js'
import type { SessionPayment } from '../payment.js'
import { assertSource } from '../policy.js'
import { isFeeShortfall } from '../readiness.js'
import { receiptFor } from '../receipt.js'
import { canonicalSignature } from '../v1/voucher.js'
import { assertSignedBy } from '../verify.js'
import type { ActionParameters } from './action.js'

export async function close(ctx: SessionContext, parameters: ActionParameters<'close'>): Promise<Authorization<SessionPayment>> {
  const { credential, payload } = parameters
  const { channelId } = payload
  if ((await ctx.store.getChannel(channelId)) === undefined) await takeNewChannel(ctx, parameters.paid.client)
  const state = await readChain(ctx, channelId)
  Channel.assertUsable(state)
  assertSource(ctx, credential, state)
  const capture = state.spent > state.settled ? state.spent : state.settled
  if (payload.cumulativeAmount !== capture) {
    throw new PaymentError('mpp_payment_verification_failed', `Sign the close voucher for exactly ${capture}, the amount spent.`, {
      extensions: { channelId, requiredCumulative: capture, acceptedCumulative: state.acceptedCumulative },
    })
  }
  const signature = canonicalSignature(payload.signature)
  await assertSignedBy(ctx, { channelId, amount: capture, signature }, Channel.expectedSigner(state), 'close voucher')
  if (!ctx.escrow.canSubmit) {
    throw new PaymentError('mpp_session_close_unavailable', 'This server has no close signer configured; the channel stays open.', {
      extensions: { channelId },
    })
  }
  await ctx.update(channelId, (current) => {
    const live = current ?? state
    Channel.assertUsable(live)
    if (Object.keys(live.reservations).length > 0 || live.spent !== state.spent) {
      throw new PaymentError('mpp_session_close_failed', 'Requests on this channel are still in flight; retry the close shortly.', {
        extensions: { channelId },
      })
    }
    return { state: { ...live, closing: true }, result: undefined }
  })
  let txHash: Hex
  try {
    ;({ txHash } = await ctx.escrow.close(channelId, capture, signature))
  } catch (error) {
    await ctx.update(channelId, (current) => ({ ...(current ? { state: { ...current, closing: false } } : {}), result: undefined }))
    if (isFeeShortfall(error)) {
      // Nothing was sent, and no retry can succeed until the operator funds the payee.
      ctx.readiness.refused(error.cause.fees)
      throw new PaymentError(
        'mpp_session_close_unavailable',
        `${error.detail} The channel stays open and usable; close it again once the payee is funded.`,
        { extensions: { channelId }, events: ['payee_cannot_pay_fees'], cause: error.cause },
      )
    }
    if (error instanceof PaymentError && error.code === 'mpp_session_close_unavailable') throw error
    if (error instanceof PaymentError && error.cause instanceof FeeCapError) {
      throw new PaymentError(
        'mpp_session_close_failed',
        `${error.detail} The channel stays open; retry the close when the base fee falls.`,
        {
          extensions: { channelId },
          cause: error.cause,
        },
      )
    }
    throw new PaymentError('mpp_session_close_failed', 'The close transaction failed; the channel stays open. Retry the close.', {
      extensions: { channelId },
      cause: error,
    })
  }
  const closed = await ctx.update(channelId, (current) => {
    const next: Channel.ChannelState = {
      ...(current ?? state),
      closing: false,
      finalized: true,
      settled: capture,
      vouchers: [],
      closeTxHash: txHash,
    }
    return { state: next, result: next }
  })
  return {
    kind: 'respond',
    status: 200,
    receipt: receiptFor(ctx, credential, closed, { txHash }),
    log: { channelId, amounts: { captured: capture } },
  }
}
