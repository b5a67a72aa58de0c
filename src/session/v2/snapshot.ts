// The v2 session snapshot (draft-tempo-session §Session Snapshot): the server's
// view of a reusable channel, sent in `Payment-Session-Snapshot` so a client
// can resume the channel without reading the chain. Wire shape: amounts as
// canonical decimal strings, hex lowercase, base64url of canonical JSON
// without padding. A client must not trust a snapshot whose channel id does
// not derive from its descriptor, escrow and chain id: `parseSnapshot` refuses it.
import type { Address, Hex } from 'viem'
import { z } from 'zod'
import { base64url } from '../../protocol/base64url.js'
import { canonicalJson } from '../../protocol/canonical-json.js'
import { WireError } from '../../protocol/wire-error.js'
import type { ChannelState } from '../channel.js'
import { maxUint96 } from './amount.js'
import { computeChannelId } from './channel-id.js'
import { addressSchema, bytes32Schema, type ChannelDescriptor, channelDescriptorSchema } from './descriptor.js'

export type SessionSnapshot = {
  /** Highest cumulative voucher amount the server accepted. */
  acceptedCumulative: string
  chainId: number
  channelId: Hex
  /** Unix seconds of a pending forced close; absent when none. */
  closeRequestedAt?: string
  /** The on-chain deposit. */
  deposit: string
  descriptor: ChannelDescriptor
  escrow: Address
  /**
   * The accepted voucher proving `acceptedCumulative` (the payer's own signature), when the server still holds it:
   * not in the spec's table, but mppx 0.11's client resumes a channel from a snapshot only with it.
   */
  highestVoucher?: { channelId: Hex; cumulativeAmount: string; signature: Hex }
  /** The least cumulative voucher the server needs for what is charged or held on the channel. */
  requiredCumulative: string
  /** Settled on chain. */
  settled: string
  /** Charged by the server. */
  spent: string
  /** Units delivered; the gateway does not count them per channel and leaves this out. */
  units?: number
}

/** The response header carrying the snapshot. */
export const snapshotHeader = 'Payment-Session-Snapshot'
/** The response header carrying the reusable channel's id. */
export const sessionHeader = 'Payment-Session'

/** The snapshot of a v2 channel as the server accounts it, for `escrow` on `chainId`. */
export function snapshotOf(state: ChannelState, terms: { escrow: Address; chainId: number; requiredCumulative: bigint }): SessionSnapshot {
  if (state.descriptor === undefined) throw new TypeError('A session snapshot needs a v2 channel (one with a descriptor).')
  const snapshot: SessionSnapshot = {
    acceptedCumulative: state.acceptedCumulative.toString(),
    chainId: terms.chainId,
    channelId: state.channelId.toLowerCase() as Hex,
    deposit: state.deposit.toString(),
    descriptor: state.descriptor,
    escrow: terms.escrow.toLowerCase() as Address,
    requiredCumulative: terms.requiredCumulative.toString(),
    settled: state.settled.toString(),
    spent: state.spent.toString(),
  }
  if (state.closeRequestedAt !== 0n) snapshot.closeRequestedAt = state.closeRequestedAt.toString()
  // Vouchers at or below `settled` are dropped; once all is settled none may prove `acceptedCumulative`.
  const highest = state.vouchers.at(-1)
  if (highest !== undefined && highest.amount === state.acceptedCumulative) {
    snapshot.highestVoucher = { channelId: snapshot.channelId, cumulativeAmount: highest.amount.toString(), signature: highest.signature }
  }
  return snapshot
}

/** The `Payment-Session-Snapshot` value: base64url (no padding) of the snapshot's canonical JSON. */
export function formatSnapshot(snapshot: SessionSnapshot): string {
  return base64url.encode(canonicalJson(snapshot))
}

const amount = z
  .string()
  .refine(
    (value) => /^(0|[1-9][0-9]{0,28})$/.test(value) && BigInt(value) <= maxUint96,
    'amounts are canonical decimal strings of a uint96',
  )

const snapshotSchema = z.strictObject({
  acceptedCumulative: amount,
  chainId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  channelId: bytes32Schema,
  closeRequestedAt: amount.optional(),
  deposit: amount,
  descriptor: channelDescriptorSchema,
  escrow: addressSchema,
  highestVoucher: z
    .strictObject({
      channelId: bytes32Schema,
      cumulativeAmount: amount,
      signature: z
        .string()
        .regex(/^0x(?:[0-9a-fA-F]{2}){1,2049}$/, 'signature must be 0x-prefixed hex of at most 2049 bytes')
        .transform((value) => value.toLowerCase() as Hex),
    })
    .optional(),
  requiredCumulative: amount,
  settled: amount,
  spent: amount,
  units: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
})

/**
 * Validates a decoded snapshot object: exact fields, canonical amounts, a channel id that derives from its terms,
 * `spent` ≤ `acceptedCumulative`, and a `highestVoucher` (if any) for that channel and amount. Lowercases hex.
 */
export function snapshotFromJson(value: unknown): SessionSnapshot {
  const result = snapshotSchema.safeParse(value)
  if (!result.success) throw new WireError('session-snapshot', `not a session snapshot: ${result.error.issues[0]?.message}`)
  const { closeRequestedAt, highestVoucher, units, ...required } = result.data
  if (computeChannelId(required.descriptor, required.escrow, required.chainId) !== required.channelId) {
    throw new WireError('session-snapshot', 'not a session snapshot: channelId does not derive from the descriptor, escrow and chainId')
  }
  // The server never charges beyond what the payer signed; a snapshot saying otherwise is not one to resume from.
  if (BigInt(required.spent) > BigInt(required.acceptedCumulative)) {
    throw new WireError('session-snapshot', 'not a session snapshot: spent exceeds acceptedCumulative')
  }
  // Its signature is for the client to verify (it signed it); here only that it is the voucher it claims to be.
  if (
    highestVoucher !== undefined &&
    (highestVoucher.channelId !== required.channelId || highestVoucher.cumulativeAmount !== required.acceptedCumulative)
  ) {
    throw new WireError('session-snapshot', 'not a session snapshot: highestVoucher is not the voucher of acceptedCumulative')
  }
  return {
    ...required,
    ...(closeRequestedAt === undefined ? {} : { closeRequestedAt }),
    ...(highestVoucher === undefined ? {} : { highestVoucher }),
    ...(units === undefined ? {} : { units }),
  }
}

/** Parses a `Payment-Session-Snapshot` value (strict base64url, JSON, then `snapshotFromJson`). Throws a `WireError`. */
export function parseSnapshot(header: string): SessionSnapshot {
  let value: unknown
  try {
    value = JSON.parse(base64url.decodeText(header))
  } catch (cause) {
    throw new WireError('session-snapshot', 'not base64url of JSON', { cause })
  }
  return snapshotFromJson(value)
}
