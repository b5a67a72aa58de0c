// The v2 channel descriptor (draft-tempo-session §Channel Descriptor): the
// channel's immutable identity, carried in every v2 credential and supplied to
// the precompile on every post-open call. Hex is accepted in any case and kept
// lowercase, so equal descriptors compare equal as strings.
import type { Address, Hex } from 'viem'
import { z } from 'zod'

export type ChannelDescriptor = {
  payer: Address
  payee: Address
  /** Payee-side operator allowed to settle and close; the zero address when unset. */
  operator: Address
  token: Address
  salt: Hex
  /** Voucher signer; the zero address delegates to `payer`. */
  authorizedSigner: Address
  /** keccak256(encodeForSigning(open transaction) ‖ sender), see open-transaction.ts. */
  expiringNonceHash: Hex
}

export const zeroAddress: Address = '0x0000000000000000000000000000000000000000'

export const addressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'an address: 0x and 40 hex digits')
  .transform((value) => value.toLowerCase() as Address)

export const bytes32Schema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, 'a bytes32: 0x and 64 hex digits')
  .transform((value) => value.toLowerCase() as Hex)

export const channelDescriptorSchema = z.strictObject({
  payer: addressSchema,
  payee: addressSchema,
  operator: addressSchema,
  token: addressSchema,
  salt: bytes32Schema,
  authorizedSigner: addressSchema,
  expiringNonceHash: bytes32Schema,
}) satisfies z.ZodType<ChannelDescriptor, unknown>

/** The address whose signature a voucher needs: `authorizedSigner`, or `payer` when it is zero. */
export function expectedVoucherSigner(descriptor: ChannelDescriptor): Address {
  return descriptor.authorizedSigner === zeroAddress ? descriptor.payer : descriptor.authorizedSigner
}
