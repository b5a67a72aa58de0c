// `topUp` (session spec §TopUp Verification): the payer's signed topUp
// transaction is checked, broadcast, and the grown deposit read back.

import { PaymentError } from '../../errors/payment-error.js'
import type { Authorization } from '../../payment/method.js'
import { loadChannel, readChain } from '../chain-state.js'
import type { SessionContext } from '../context.js'
import { verificationFailed } from '../errors.js'
import type { SessionPayment } from '../payment.js'
import { assertPayerAllowed, assertSource } from '../policy.js'
import { type ActionParameters, receiptAnswer } from './action.js'

export async function topUp(ctx: SessionContext, parameters: ActionParameters<'topUp'>): Promise<Authorization<SessionPayment>> {
  const { credential, payload } = parameters
  const call = await ctx.escrow.decodeTransaction(payload.transaction)
  if (call.kind !== 'topUp' || call.channelId !== payload.channelId) {
    throw verificationFailed('The transaction does not top up this channel on the escrow.', payload.channelId)
  }
  if (call.additionalDeposit !== payload.additionalDeposit)
    throw verificationFailed('additionalDeposit does not match the transaction.', payload.channelId)
  const before = await loadChannel(ctx, payload.channelId, parameters.paid.client, payload.descriptor)
  if (before.finalized)
    throw new PaymentError('mpp_channel_finalized', 'The channel is closed.', { extensions: { channelId: before.channelId } })
  assertSource(ctx, credential, before)
  await assertPayerAllowed(ctx, before)
  if (call.sender !== before.payer) throw verificationFailed('Only the payer can top up the channel.', before.channelId)
  const { txHash } = await ctx.escrow.broadcast(payload.transaction)
  const after = await readChain(ctx, payload.channelId, payload.descriptor)
  if (after.deposit < before.deposit + call.additionalDeposit)
    throw verificationFailed('The deposit did not grow by additionalDeposit.', after.channelId)
  return receiptAnswer(ctx, credential, after, { receipt: { txHash }, amounts: { deposit: after.deposit } })
}
