import type { Quote } from '../../payment/pricing.js'
import type { PaidRequest } from '../../payment/request.js'
import type { Credential } from '../../protocol/credential.js'
import type { RequestKey } from '../idempotency.js'
import type { SessionPayload } from '../v1/payload.js'
import type { ChannelDescriptor } from '../v2/descriptor.js'

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
