// Reserve → handler → commit (docs/flow.md §4): the request's quote is held on
// the channel before the handler runs; its actual cost is charged after a 2xx
// answer, atomically with the stored response of an idempotent request.
import { PaymentError } from '../errors/payment-error.js'
import type { Authorization } from '../payment/method.js'
import type { Quote } from '../payment/pricing.js'
import type { Credential } from '../protocol/credential.js'
import type { Receipt } from '../protocol/receipt.js'
import { Receipt as ReceiptFormat } from '../protocol/receipt.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'
import { type RequestKey, replay } from './idempotency.js'
import { type Meter, meter as openMeter } from './meter.js'
import type { SessionPayment } from './payment.js'
import { receiptFor } from './receipt.js'
import { maybeSettle } from './settlement.js'
import { insufficient } from './shortfall.js'
import type { CompletedRequest } from './store.js'
import { snapshotHeaders } from './v2/snapshot-headers.js'

export type ServeParameters = {
  credential: Credential
  state: Channel.ChannelState
  quote: Quote
  /** Whether this request's credential advanced the accepted voucher (decides which 402 a shortfall gets). */
  voucherAdvanced: boolean
  request: RequestKey | undefined
}

/** Reserves the request's quote and hands the request to the handler. */
export async function serve(ctx: SessionContext, parameters: ServeParameters): Promise<Authorization<SessionPayment>> {
  const { credential, state, quote, voucherAdvanced, request } = parameters
  const { now, bucketTtl, reservationTtl, idempotencyTtl } = ctx.settings
  const { channelId } = state
  if (!voucherAdvanced && bucketTtl !== undefined && now() - state.acceptedAt > bucketTtl) {
    throw insufficient(ctx, state, Channel.requiredCumulative(state, quote.total), false, 'The accepted voucher bucket expired.')
  }
  if (request !== undefined) {
    const existing = await ctx.store.claimRequest(channelId, request.key, now() + reservationTtl)
    if (existing !== undefined) return replay(ctx, request, existing)
  }
  const reservationId = crypto.randomUUID()
  try {
    await ctx.update(channelId, (current) => ({
      state: Channel.reserve(current ?? state, reservationId, quote.total, now() + reservationTtl, now()),
      result: undefined,
    }))
  } catch (error) {
    if (request !== undefined) await ctx.store.releaseRequest(channelId, request.key)
    if (error instanceof Channel.InsufficientAuthorization) throw insufficient(ctx, error.state, error.required, voucherAdvanced)
    if (error instanceof PaymentError) throw error
    throw new PaymentError('mpp_reservation_failed', 'The payment could not be reserved; nothing was charged. Retry shortly.', {
      cause: error,
    })
  }
  // A streaming handler takes the reservation over: it charges window by window and ends the stream itself.
  let metered: Meter | undefined
  const meter = () => {
    metered ??= openMeter(ctx, { credential, state, reservationId, request })
    return metered
  }
  return {
    kind: 'serve',
    payment: { channelId, payer: state.payer, challengeId: credential.challenge.id, reserved: quote.total, meter },
    log: { channelId, amounts: { reserved: quote.total } },
    async commit({ response, cost }) {
      // The stream's windows are charged as it is delivered; its initial receipt is the last window's.
      // Logged as `firstWindow`, not `charged`: the stream's charge is known only at its end, after this log line.
      if (metered !== undefined) {
        return { receipt: metered.receipt, headers: metered.headers, log: { amounts: { firstWindow: metered.charged } } }
      }
      const body = request === undefined ? undefined : await response.clone().text()
      type Committed = { state: Channel.ChannelState; charged: bigint; receipt: Receipt }
      const committed = await ctx.update<Committed>(channelId, (current) => {
        if (current === undefined) throw new PaymentError('mpp_commit_failed', 'The channel vanished from the store.')
        const result = Channel.commit(current, reservationId, cost.amount, now())
        // Capped at the quote, the receipt reports the quote's units: what was paid for, not what was consumed.
        const units = result.charged < cost.amount ? quote.units : cost.units
        const receipt = receiptFor(ctx, credential, result.state, { units })
        if (request === undefined || body === undefined) return { state: result.state, result: { ...result, receipt } }
        // The response an Idempotency-Key retry replays is written with the charge, atomically: a crash keeps both or neither.
        const headers = {
          'Content-Type': response.headers.get('Content-Type') ?? 'application/octet-stream',
          'Cache-Control': 'private',
          'Payment-Receipt': ReceiptFormat.format(receipt),
          ...snapshotHeaders(ctx, result.state),
        }
        const stored: CompletedRequest = {
          key: request.key,
          response: { status: response.status, headers, body },
          expiresAt: now() + idempotencyTtl,
        }
        return { state: result.state, result: { ...result, receipt }, completeRequest: stored }
      })
      maybeSettle(ctx, committed.state)
      const { charged, receipt } = committed
      const headers = snapshotHeaders(ctx, committed.state)
      const amounts = { charged, spent: committed.state.spent, acceptedCumulative: committed.state.acceptedCumulative }
      if (charged >= cost.amount) return { receipt, headers, log: { amounts } }
      return {
        receipt,
        headers,
        log: { amounts: { ...amounts, cost: cost.amount, shortfall: cost.amount - charged }, events: ['quote_shortfall'] },
      }
    },
    async release() {
      // Nothing of the stream reached the client: its windows are given back.
      if (metered !== undefined) {
        await metered.end({ amount: 0n, units: 0 })
        return
      }
      if (request !== undefined) await ctx.store.releaseRequest(channelId, request.key)
      await ctx.update(channelId, (current) =>
        current === undefined ? { result: undefined } : { state: Channel.release(current, reservationId), result: undefined },
      )
    },
  }
}
