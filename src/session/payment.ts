import type { Address, Hex } from 'viem'
import type { Meter } from './meter.js'

/** What a handler behind a session-paid route reads as its payment (`c.var.payment`). */
export type SessionPayment = {
  channelId: Hex
  payer: Address
  challengeId: string
  /** Held for this request until commit. */
  reserved: bigint
  /**
   * Turns this request into a metered stream: the handler charges each window
   * before delivering it and ends the stream with what was delivered; the
   * payment layer then neither commits nor releases it. The same meter on every call.
   */
  meter(): Meter
}
