import type { Credential } from '../protocol/credential.js'
import type { Receipt } from '../protocol/receipt.js'
import type { ChannelState } from './channel.js'
import type { SessionContext } from './context.js'

export const methodName = 'tempo'
export const intent = 'session'

/** The session receipt (session spec §Receipt Generation) for a paid request or management action on `state`. */
export function receiptFor(ctx: SessionContext, credential: Credential, state: ChannelState, extra: Partial<Receipt> = {}): Receipt {
  return {
    method: methodName,
    intent,
    status: 'success',
    timestamp: new Date(ctx.settings.now()).toISOString(),
    reference: state.channelId,
    challengeId: credential.challenge.id,
    channelId: state.channelId,
    acceptedCumulative: state.acceptedCumulative.toString(),
    spent: state.spent.toString(),
    ...extra,
  }
}
