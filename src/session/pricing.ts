import type { Context } from 'hono'

/**
 * How a route prices a request: a per-unit `amount` and `unitType` for the
 * challenge, a `quote` (the most the request can cost, reserved before the
 * handler runs) and the actual `cost` once the handler has answered.
 */
export type Pricing = {
  /** Price per unit in base units, as the challenge's `amount`. */
  amount: bigint
  unitType: string
  quote(context: Context): bigint | Promise<bigint>
  /** What the answered request consumed; capped at the quote by the engine. */
  cost(context: Context, quote: bigint): { amount: bigint; units: number }
}

/** The same price for every request. */
export function fixedPrice(amount: bigint): Pricing {
  return { amount, unitType: 'request', quote: () => amount, cost: () => ({ amount, units: 1 }) }
}
