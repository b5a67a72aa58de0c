// The payee's readiness to settle and close: whether it can sign (a payee key
// is configured) and whether it holds the fee of one settle or close at
// current fees. Read from the escrow at most once per `readinessTtl`, however
// often it is asked (a health probe must not be a way to hammer the RPC). A
// settle or close refused for its fee is a fresher reading: it replaces the
// cached one at once, and holds background settlement for the same time,
// since no retry can succeed before the payee is funded.
import type { Address } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import { type Escrow, FeeShortfallError, type PayeeFees } from './escrow.js'

export type Readiness = {
  /** The payee (lowercase): the sender of settle and close, or the configured recipient when there is no key. */
  address: Address
  /** A payee key is configured to send settle and close. */
  canSign: boolean
  /** It can sign and holds the fee of one settle or close at current fees. */
  canPayFees: boolean
  /** What the fees are paid with (present when it can sign): token (or `native`), balance, what one settle or close needs. */
  fees?: Omit<PayeeFees, 'address'>
  /** When this was read (ms since the epoch, the engine's clock). */
  checkedAt: number
}

export type PayeeReadiness = {
  /** The readiness, read at most once per `ttl`; a failed read (`mpp_chain_unavailable`) is kept as long. */
  read(): Promise<Readiness>
  /** A settle or close was refused because the payee cannot pay its fee: `fees` is the reading it was refused on. */
  refused(fees: PayeeFees): void
  /** Whether background settlement waits: within `ttl` of a refusal for fees. */
  settlementHeld(): boolean
}

export function payeeReadiness(
  escrow: Pick<Escrow, 'payeeFees'>,
  settings: { recipient: Address; readinessTtl: number; now: () => number },
): PayeeReadiness {
  const { recipient, readinessTtl: ttl, now } = settings
  // The reading and when it started; concurrent callers share one read in flight.
  let cached: { at: number; readiness: Promise<Readiness> } | undefined
  let heldUntil = Number.NEGATIVE_INFINITY

  function readinessOf(fees: PayeeFees | undefined, checkedAt: number): Readiness {
    if (fees === undefined) return { address: recipient, canSign: false, canPayFees: false, checkedAt }
    const { address, ...rest } = fees
    return { address, canSign: true, canPayFees: fees.balance >= fees.needed, fees: rest, checkedAt }
  }

  return {
    read() {
      const at = now()
      if (cached === undefined || at - cached.at >= ttl) {
        cached = { at, readiness: escrow.payeeFees().then((fees) => readinessOf(fees, at)) }
      }
      return cached.readiness
    },
    refused(fees) {
      const at = now()
      cached = { at, readiness: Promise.resolve(readinessOf(fees, at)) }
      heldUntil = at + ttl
    },
    settlementHeld: () => now() < heldUntil,
  }
}

/** Whether `error` is a settle/close refused because the payee cannot pay its fee (`error.cause.fees` has the reading). */
export function isFeeShortfall(error: unknown): error is PaymentError & { cause: FeeShortfallError } {
  return error instanceof PaymentError && error.cause instanceof FeeShortfallError
}
