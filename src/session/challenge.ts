import type { Hex } from 'viem'
import type { ChallengeParameters } from '../payment/method.js'
import type { JsonObject } from '../protocol/challenge.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'
import { zeroAddress } from './v2/descriptor.js'
import { snapshotOf } from './v2/snapshot.js'

/**
 * The `request` of a session challenge (session spec §Request Schema): the
 * route's unit price, the payee, the token and the escrow; for a payer who
 * presented a channel, how far to authorize on it, else what a new channel's
 * opening voucher must cover. Reads the store, changes nothing.
 */
export async function challengeRequest(ctx: SessionContext, { quote, credential }: ChallengeParameters): Promise<JsonObject> {
  const { escrow } = ctx
  const { minVoucherDelta, bucketSize, suggestedDeposit, currency, recipient, sessionProtocol, operator } = ctx.settings
  const methodDetails: JsonObject = { ...quote.terms, escrowContract: escrow.address, chainId: escrow.chainId, sessionProtocol }
  // v2: clients put the advertised operator in new descriptors; absent means the zero address.
  if (sessionProtocol === 'v2' && operator !== zeroAddress) methodDetails.operator = operator
  if (minVoucherDelta > 0n) methodDetails.minVoucherDelta = minVoucherDelta.toString()
  const request: JsonObject = { amount: quote.unitPrice.toString(), unitType: quote.unitType, currency, recipient, methodDetails }
  const channelId = credential?.payload.channelId
  const state = typeof channelId === 'string' ? await ctx.store.getChannel(channelId.toLowerCase() as Hex) : undefined
  if (state !== undefined && !state.finalized) {
    methodDetails.channelId = state.channelId
    const requiredCumulative = Channel.bucketed(Channel.requiredCumulative(state, quote.total), bucketSize, state.deposit)
    methodDetails.requiredCumulative = requiredCumulative.toString()
    // v2 (draft-tempo-session §Session Snapshot): the channel as the server accounts it, so the payer can resume it without a chain read.
    if (state.descriptor !== undefined) {
      methodDetails.sessionSnapshot = snapshotOf(state, { escrow: escrow.address, chainId: escrow.chainId, requiredCumulative })
    }
  } else {
    methodDetails.requiredCumulative = Channel.bucketed(quote.total, bucketSize).toString()
    request.suggestedDeposit = suggestedDeposit.toString()
  }
  return request
}
