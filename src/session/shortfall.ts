// What a client must do when its channel does not cover a request: sign a
// voucher further (within the deposit), or top up the deposit. The numbers it
// needs ride in the problem: `requiredCumulative` (the voucher that would
// cover), `requiredTopUp` = requiredCumulative − acceptedCumulative (session
// spec: cost − available), `deposit`, and `suggestedDeposit` when the deposit
// is what is short.
import { PaymentError } from '../errors/payment-error.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'

/** Maps a shortfall to the 402 the client can act on. `voucherAdvanced`: this request's credential carried a new voucher. */
export function insufficient(
  ctx: SessionContext,
  state: Channel.ChannelState,
  required: bigint,
  voucherAdvanced: boolean,
  reason = 'The accepted voucher does not cover this request.',
): PaymentError {
  const { bucketSize, suggestedDeposit } = ctx.settings
  const numbers = { channelId: state.channelId, acceptedCumulative: state.acceptedCumulative, deposit: state.deposit }
  if (required > state.deposit) {
    return new PaymentError(
      'mpp_session_deposit_below_request_cost',
      `The channel deposit cannot cover this request; top up the deposit by at least ${required - state.deposit} and retry.`,
      {
        extensions: {
          ...numbers,
          requiredCumulative: required,
          requiredTopUp: required - state.acceptedCumulative,
          suggestedDeposit: required > suggestedDeposit ? required : suggestedDeposit,
        },
      },
    )
  }
  const requiredBucket = Channel.bucketed(required, bucketSize, state.deposit)
  const extensions = { ...numbers, requiredCumulative: requiredBucket, requiredTopUp: required - state.acceptedCumulative }
  if (voucherAdvanced) {
    return new PaymentError(
      'mpp_request_exceeds_voucher_bucket',
      `The new voucher does not cover this request. Sign a voucher for at least ${requiredBucket} and retry the same request body.`,
      { extensions },
    )
  }
  return new PaymentError(
    'mpp_voucher_bucket_refresh_required',
    `${reason} Sign a voucher for at least ${requiredBucket} and retry the same request body.`,
    { extensions },
  )
}

/** Runs `work`, turning a shortfall it throws into the client's 402. */
export async function orShortfall<T>(ctx: SessionContext, voucherAdvanced: boolean, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (error instanceof Channel.InsufficientAuthorization) throw insufficient(ctx, error.state, error.required, voucherAdvanced)
    throw error
  }
}
