// The v2 session credential payloads (draft-tempo-session §Payload Actions,
// sessionProtocol v2): the v1 actions and fields, plus the channel descriptor,
// required in every payload; amounts are uint96. A signature is any whole
// number of hex bytes here: its TIP-1020 envelope is classified when it is
// verified (signature.ts), still before any ECDSA work.
import type { Hex } from 'viem'
import { z } from 'zod'
import { parsePayloadWith } from '../v1/payload.js'
import { maxUint96 } from './amount.js'
import { addressSchema, bytes32Schema, type ChannelDescriptor, channelDescriptorSchema } from './descriptor.js'

// 2049 bytes: the largest TIP-1020 envelope (WebAuthn, with its type byte).
const signature = z
  .string()
  .regex(/^0x(?:[0-9a-fA-F]{2}){1,2049}$/, 'signature must be 0x-prefixed hex of at most 2049 bytes')
  .transform((value) => value.toLowerCase() as Hex)
const transaction = z
  .string()
  .regex(/^0x(?:[0-9a-fA-F]{2})+$/, 'transaction must be 0x-prefixed hex')
  .transform((value) => value.toLowerCase() as Hex)
const amount = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,28})$/, 'amounts are decimal strings')
  .transform((value) => BigInt(value))
  .refine((value) => value <= maxUint96, 'amount exceeds uint96 (2^96 - 1)')
const descriptor = channelDescriptorSchema
const channelId = bytes32Schema

const sessionPayload = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('open'),
    type: z.literal('transaction'),
    channelId,
    descriptor,
    transaction,
    authorizedSigner: addressSchema.optional(),
    cumulativeAmount: amount,
    signature,
  }),
  z.object({ action: z.literal('topUp'), type: z.literal('transaction'), channelId, descriptor, transaction, additionalDeposit: amount }),
  z.object({ action: z.literal('voucher'), channelId, descriptor, cumulativeAmount: amount, signature }),
  z.object({ action: z.literal('close'), channelId, descriptor, cumulativeAmount: amount, signature }),
])

export type SessionPayloadV2 = z.output<typeof sessionPayload> & { descriptor: ChannelDescriptor; channelId: Hex }

/** Validates a v2 credential payload: field presence, hex and decimal formats, uint96 bounds. No cryptography. */
export function parseSessionPayloadV2(payload: unknown): SessionPayloadV2 {
  return parsePayloadWith(sessionPayload, payload)
}
