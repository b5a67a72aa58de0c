import type { Address, Hex } from 'viem'
import { z } from 'zod'
import { PaymentError } from '../../errors/payment-error.js'

const maxUint128 = (1n << 128n) - 1n

const lowerHex = <T extends Hex>(pattern: RegExp, what: string) =>
  z
    .string()
    .regex(pattern, `${what} must be 0x-prefixed hex`)
    .transform((value) => value.toLowerCase() as T)

const channelId = lowerHex<Hex>(/^0x[0-9a-fA-F]{64}$/, 'channelId')
const address = lowerHex<Address>(/^0x[0-9a-fA-F]{40}$/, 'address')
// 64- or 65-byte signature; canonical form and low-s are checked later, still before any ECDSA work.
const signature = lowerHex<Hex>(/^0x(?:[0-9a-fA-F]{128}|[0-9a-fA-F]{130})$/, 'signature')
const transaction = lowerHex<Hex>(/^0x(?:[0-9a-fA-F]{2})+$/, 'transaction')
const amount = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,38})$/, 'amounts are decimal strings')
  .transform((value) => BigInt(value))
  .refine((value) => value <= maxUint128, 'amount exceeds uint128')

/** The session credential payloads (draft-tempo-session §Payload Actions, v1); unknown fields are ignored. */
const sessionPayload = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('open'),
    type: z.literal('transaction'),
    channelId,
    transaction,
    authorizedSigner: address.optional(),
    cumulativeAmount: amount,
    signature,
  }),
  z.object({ action: z.literal('topUp'), type: z.literal('transaction'), channelId, transaction, additionalDeposit: amount }),
  z.object({ action: z.literal('voucher'), channelId, cumulativeAmount: amount, signature }),
  z.object({ action: z.literal('close'), channelId, cumulativeAmount: amount, signature }),
])

export type SessionPayload = z.output<typeof sessionPayload>

/** Validates a credential payload: field presence, hex and decimal formats, bounds. No cryptography. */
export function parseSessionPayload(payload: unknown): SessionPayload {
  return parsePayloadWith(sessionPayload, payload)
}

/** Parses `payload` with `schema`; the first issue becomes `mpp_malformed_credential` naming where it is. Shared by v1 and v2. */
export function parsePayloadWith<T>(schema: z.ZodType<T>, payload: unknown): T {
  const result = schema.safeParse(payload)
  if (!result.success) {
    const issue = result.error.issues[0]
    const where = issue?.path.join('.') || 'payload'
    throw new PaymentError('mpp_malformed_credential', `Invalid session payload at ${where}: ${issue?.message ?? 'invalid'}.`)
  }
  return result.data
}
