// Who may pay: the channel must pay this payee in this token, a credential's
// `source` must be the channel's payer or signer, and the operator may contain payers.
import type { Address, Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import type { Credential } from '../protocol/credential.js'
import { sourceAddress } from '../protocol/source.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'
import { verificationFailed } from './errors.js'
import type { OnChainChannel } from './escrow.js'

export function assertOurs(ctx: SessionContext, channelId: Hex, chain: Pick<OnChainChannel, 'payee' | 'token'>): void {
  if (chain.payee !== ctx.settings.recipient || chain.token !== ctx.settings.currency) {
    throw verificationFailed('The channel pays another payee or token than this server asks for.', channelId)
  }
}

/** A credential's `source`, when given, must name the channel's payer or its authorized signer. */
export function assertSource(ctx: SessionContext, credential: Credential, state: Channel.ChannelState): void {
  if (credential.source === undefined) return
  const address = sourceAddress(credential.source, ctx.escrow.chainId)
  if (address === undefined || (address !== state.payer && address !== Channel.expectedSigner(state))) {
    throw verificationFailed(
      "The credential's source is not this channel's payer or authorized signer.",
      state.channelId,
      'session/signer-mismatch',
    )
  }
}

/** Operator containment (`payers` option): refuses a denied payer, or one outside the allow list or the check. */
export async function assertPayerAllowed(ctx: SessionContext, { payer, channelId }: { payer: Address; channelId: Hex }): Promise<void> {
  const { allow, deny, check } = ctx.settings.payers
  const refused = deny.has(payer) || (allow !== undefined && !allow.has(payer)) || (check !== undefined && !(await check(payer)))
  if (refused)
    throw new PaymentError('mpp_payer_not_allowed', 'This payer is not allowed to use this service.', { extensions: { channelId } })
}
