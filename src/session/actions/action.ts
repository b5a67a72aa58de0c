import type { Authorization } from '../../payment/method.js'
import type { Quote } from '../../payment/pricing.js'
import type { PaidRequest } from '../../payment/request.js'
import type { Credential } from '../../protocol/credential.js'
import type { Receipt } from '../../protocol/receipt.js'
import type { ChannelState } from '../channel.js'
import type { SessionContext } from '../context.js'
import type { RequestKey } from '../idempotency.js'
import type { SessionPayment } from '../payment.js'
import { receiptFor } from '../receipt.js'
import type { SessionPayload } from '../v1/payload.js'
import type { ChannelDescriptor } from '../v2/descriptor.js'
import { snapshotHeaders } from '../v2/snapshot-headers.js'

/** What every session action is handed: the verified credential, its payload, and the request it pays for. */
export type ActionParameters<TAction extends SessionPayload['action']> = {
  credential: Credential
  /** v2: `descriptor` is present, and checked to derive `channelId` and to name the challenge's payee, token and operator. */
  payload: Extract<SessionPayload, { action: TAction }> & { descriptor?: ChannelDescriptor }
  paid: PaidRequest
  /** A management request: answered with a receipt, never served. */
  management: boolean
  /** The route's price for this request (computed on first use). */
  quote(): Promise<Quote>
  /** The idempotency record of a content request that carries an `Idempotency-Key`. */
  request: RequestKey | undefined
}

/**
 * A 200 carrying the channel's receipt (on v2 with its snapshot headers) and
 * nothing served: what a management request, a topUp and a close answer with.
 */
export function receiptAnswer(
  ctx: SessionContext,
  credential: Credential,
  state: ChannelState,
  options: { receipt?: Partial<Receipt>; amounts?: Record<string, bigint> } = {},
): Authorization<SessionPayment> {
  return {
    kind: 'respond',
    status: 200,
    receipt: receiptFor(ctx, credential, state, options.receipt),
    headers: snapshotHeaders(ctx, state),
    log: { channelId: state.channelId, ...(options.amounts === undefined ? {} : { amounts: options.amounts }) },
  }
}
