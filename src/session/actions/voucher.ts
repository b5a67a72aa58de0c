// `voucher` (session spec §Voucher Verification): a new (or the same)
// cumulative authorization, then the request is served — or, on a management
// request, a pure voucher top-up answered with a receipt and nothing charged.
import type { Authorization } from '../../payment/method.js'
import { loadChannel, recentChain } from '../chain-state.js'
import * as Channel from '../channel.js'
import type { SessionContext } from '../context.js'
import { assertWithinExposureLimit, voucherPosition } from '../exposure.js'
import type { SessionPayment } from '../payment.js'
import { assertPayerAllowed, assertSource } from '../policy.js'
import { serve } from '../serve.js'
import { verifyVoucher } from '../verify.js'
import { type ActionParameters, receiptAnswer } from './action.js'

export async function voucher(ctx: SessionContext, parameters: ActionParameters<'voucher'>): Promise<Authorization<SessionPayment>> {
  const { credential, payload, management, paid } = parameters
  const loaded = await loadChannel(ctx, payload.channelId, paid.client, payload.descriptor)
  // A voucher above the accepted amount extends the service given on trust: on a recent chain read only, so a
  // forced close requested within the chain cache's lifetime is refused now rather than when the cache expires.
  const raises = payload.cumulativeAmount > loaded.acceptedCumulative && !loaded.finalized
  const state = raises ? await recentChain(ctx, loaded, ctx.settings.voucherReadTtl) : loaded
  Channel.assertUsable(state)
  assertSource(ctx, credential, state)
  await assertPayerAllowed(ctx, state)
  // Priced first: the operator's exposure cap lets a voucher go as far as this request needs.
  const quote = management ? undefined : await parameters.quote()
  assertWithinExposureLimit(ctx, voucherPosition(state, quote?.total ?? 0n), payload.cumulativeAmount)
  const { state: current, advanced } = await verifyVoucher(ctx, state, payload.cumulativeAmount, payload.signature)
  // A voucher top-up (HEAD, or any request that asks for no content): accepted, nothing served, nothing charged.
  if (quote === undefined) {
    return receiptAnswer(ctx, credential, current)
  }
  return serve(ctx, { credential, state: current, quote, voucherAdvanced: advanced, request: parameters.request })
}
