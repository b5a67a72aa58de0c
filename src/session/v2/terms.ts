// What a v2 credential's descriptor must say before anything else is done with
// it (draft-tempo-session §Precompile-Backed Channel State): it derives the
// payload's channelId on this escrow and chain, and names the challenge's payee,
// token and operator (the zero address when none is advertised). Checked on
// every v2 payload, so no action, and no store or chain read, ever sees a
// descriptor that is not the channel's.
import type { Address, Hex } from 'viem'
import { PaymentError } from '../../errors/payment-error.js'
import { computeChannelId } from './channel-id.js'
import type { ChannelDescriptor } from './descriptor.js'

export type DescriptorTerms = { escrow: Address; chainId: number; recipient: Address; currency: Address; operator: Address }

const refused = (detail: string, channelId: Hex) =>
  new PaymentError('mpp_payment_verification_failed', detail, { extensions: { channelId } })

/** Throws `mpp_payment_verification_failed` unless `descriptor` is channel `channelId`'s and names these terms. */
export function assertDescriptorTerms(terms: DescriptorTerms, channelId: Hex, descriptor: ChannelDescriptor): void {
  if (computeChannelId(descriptor, terms.escrow, terms.chainId) !== channelId) {
    throw refused('The channelId is not the one the descriptor derives on this escrow and chain.', channelId)
  }
  if (descriptor.payee !== terms.recipient) throw refused('The descriptor pays another payee than the challenge recipient.', channelId)
  if (descriptor.token !== terms.currency) throw refused('The descriptor holds another token than the challenge currency.', channelId)
  if (descriptor.operator !== terms.operator) {
    throw refused(`The descriptor's operator must be ${terms.operator}, the one this server advertises.`, channelId)
  }
}

/** The descriptor fields in which two descriptors differ (an open's payload and its transaction). */
export function differingFields(a: ChannelDescriptor, b: ChannelDescriptor): (keyof ChannelDescriptor)[] {
  return (Object.keys(a) as (keyof ChannelDescriptor)[]).filter((key) => a[key] !== b[key])
}
