import type { Context } from 'hono'
import type { JsonObject } from '../protocol/challenge.js'

/** What a request may cost, worked out before it runs. */
export type Quote = {
  /** The most the request can cost, base units: reserved before the handler runs. */
  total: bigint
  /** Price per unit (the challenge's `amount`), base units. */
  unitPrice: bigint
  /** The unit priced (the challenge's `unitType`), e.g. `request` or `llm_token`. */
  unitType: string
  /** Further terms for the challenge's `methodDetails` (e.g. input and output token prices). */
  terms?: JsonObject
}

/**
 * How a route prices a request: a `quote` before the handler runs, the actual
 * `cost` after it has answered (the engine caps it at the quote). `quote` may
 * throw a `ProblemError` (e.g. `mpp_request_quote_invalid`): an unpriceable
 * request gets that error, not a challenge.
 */
export type Pricing = {
  quote(context: Context): Quote | Promise<Quote>
  cost(context: Context, quote: Quote): { amount: bigint; units: number }
}

/** The same price for every request. */
export function fixedPrice(amount: bigint): Pricing {
  const quote: Quote = { total: amount, unitPrice: amount, unitType: 'request' }
  return { quote: () => quote, cost: () => ({ amount, units: 1 }) }
}
