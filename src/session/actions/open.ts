// `open` (session spec §Open Verification): check the client's signed open
// transaction and initial voucher against the challenge, broadcast it, read
// the channel, accept the voucher, then serve the request.
import type { Authorization } from '../../payment/method.js'
import { readChain } from '../chain-state.js'
import * as Channel from '../channel.js'
import type { SessionContext } from '../context.js'
import { verificationFailed } from '../errors.js'
import { assertWithinExposureLimit } from '../exposure.js'
import type { SessionPayment } from '../payment.js'
import { assertPayerAllowed, assertSource } from '../policy.js'
import { serve } from '../serve.js'
import { differingFields } from '../v2/terms.js'
import { acceptNew, assertSignedBy, voucherSignature } from '../verify.js'
import { type ActionParameters, receiptAnswer } from './action.js'

export async function open(ctx: SessionContext, parameters: ActionParameters<'open'>): Promise<Authorization<SessionPayment>> {
  const { credential, payload } = parameters
  const { recipient, currency, minDeposit } = ctx.settings
  const call = await ctx.escrow.decodeTransaction(payload.transaction)
  if (call.kind !== 'open') throw verificationFailed('The open transaction does not call open on the escrow.', payload.channelId)
  // v2: the payload's descriptor must be the transaction's, expiringNonceHash included (the id check alone would say only "another channel").
  if (payload.descriptor !== undefined) {
    const differing = call.descriptor === undefined ? ['expiringNonceHash'] : differingFields(payload.descriptor, call.descriptor)
    if (differing.length > 0) {
      throw verificationFailed(`The descriptor does not match the open transaction: ${differing.join(', ')}.`, payload.channelId)
    }
  }
  if (call.channelId !== payload.channelId)
    throw verificationFailed('The channelId does not match the open transaction.', payload.channelId)
  if (call.payee !== recipient || call.token !== currency) {
    throw verificationFailed('The open transaction pays another payee or token than the challenge asks for.', payload.channelId)
  }
  if (call.deposit < minDeposit) throw verificationFailed(`The deposit must be at least ${minDeposit}.`, payload.channelId)
  // Refused before anything reaches the chain: the escrow could never pay it.
  if (payload.cumulativeAmount > call.deposit) throw verificationFailed('The initial voucher exceeds the deposit.', payload.channelId)
  if (payload.authorizedSigner !== undefined && payload.authorizedSigner !== call.authorizedSigner) {
    throw verificationFailed('The authorizedSigner does not match the open transaction.', payload.channelId)
  }
  // Priced first: the operator's exposure cap lets the initial voucher go as far as this request needs.
  const quote = parameters.management ? undefined : await parameters.quote()
  const position = {
    channelId: call.channelId,
    spent: 0n,
    acceptedCumulative: 0n,
    requiredCumulative: quote?.total ?? 0n,
    deposit: call.deposit,
  }
  assertWithinExposureLimit(ctx, position, payload.cumulativeAmount)
  // Check the payer and the initial voucher before anything reaches the chain.
  await assertPayerAllowed(ctx, call)
  const signature = voucherSignature(ctx, payload.signature, payload.channelId)
  const initial = { channelId: call.channelId, amount: payload.cumulativeAmount, signature }
  await assertSignedBy(ctx, initial, Channel.expectedSigner(call), 'initial voucher')
  // A retried open finds its channel already on chain and is not broadcast again.
  if ((await ctx.escrow.getChannel(call.channelId, call.descriptor)) === undefined) await ctx.escrow.broadcast(payload.transaction)
  const state = await readChain(ctx, call.channelId, call.descriptor)
  Channel.assertUsable(state)
  assertSource(ctx, credential, state)
  if (payload.cumulativeAmount < state.settled)
    throw verificationFailed('The initial voucher is below the settled amount.', state.channelId)
  const advanced = payload.cumulativeAmount > state.acceptedCumulative
  // Its signature was verified above against the signer the transaction (and so the channelId) commits to.
  const current = advanced ? await acceptNew(ctx, state, { amount: payload.cumulativeAmount, signature }) : state
  // An open on a management request (e.g. HEAD) opens the channel and answers with its receipt; nothing is served.
  if (quote === undefined) {
    return receiptAnswer(ctx, credential, current)
  }
  return serve(ctx, { credential, state: current, quote, voucherAdvanced: advanced, request: parameters.request })
}
