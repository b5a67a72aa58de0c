import type { JsonObject } from '../protocol/challenge.js'
import type { PaidRequest } from './request.js'

/** What a request may cost, worked out before it runs. */
export type Quote = {
  /** The most the request can cost, base units: reserved before the handler runs. */
  total: bigint
  /** How many units `total` pays for (e.g. prompt tokens plus the completion limit). */
  units: number
  /** Price per unit (the challenge's `amount`), base units. */
  unitPrice: bigint
  /** The unit priced (the challenge's `unitType`), e.g. `request` or `llm_token`. */
  unitType: string
  /** Further terms for the challenge's `methodDetails` (e.g. input and output token prices). */
  terms?: JsonObject
}

/** What a request actually cost, reported by the handler after it ran (capped at the quote). */
export type Cost = {
  /** Base units. */
  amount: bigint
  /** Units consumed (the receipt's `units`). */
  units: number
}

/**
 * How a route prices its requests: the quote, before anything runs, from the
 * request and its body. It may throw a `ProblemError` (e.g.
 * `mpp_request_quote_invalid`): an unpriceable request gets that error, not a
 * challenge. The route's handler reports the actual cost (`c.var.payment.charge`);
 * a handler that reports none is charged the whole quote.
 */
export type Pricing<TQuote extends Quote = Quote> = (paid: PaidRequest) => TQuote | Promise<TQuote>

/** The same price for every request. */
export function fixedPrice(amount: bigint): Pricing {
  const quote: Quote = { total: amount, units: 1, unitPrice: amount, unitType: 'request' }
  return () => quote
}

/** The cost of a request whose handler reported none: everything quoted. */
export const quotedCost = (quote: Quote): Cost => ({ amount: quote.total, units: quote.units })
