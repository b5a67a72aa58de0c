import type { Address, Hex } from 'viem'

/** What a handler behind a session-paid route reads as its payment (`c.var.payment`). */
export type SessionPayment = {
  channelId: Hex
  payer: Address
  challengeId: string
  /** Held for this request until commit. */
  reserved: bigint
}
