// TIP-1034 amounts are uint96: deposits, vouchers, settlements and close
// captures above 2^96 − 1 must be refused before anything is signed, hashed
// or sent (draft-tempo-session §Precompile-Backed Channel State).
import { SessionV2Error } from './errors.js'

export const maxUint96 = (1n << 96n) - 1n

/** Returns `value` if it is a uint96; throws `amount_out_of_range` otherwise. */
export function assertUint96(value: bigint): bigint {
  if (value < 0n || value > maxUint96) throw new SessionV2Error('amount_out_of_range', 'The amount is outside the uint96 range.')
  return value
}

// Canonical decimal: no sign, no leading zeros, no exponent. 2^96 − 1 has 29 digits.
const canonicalDecimal = /^(?:0|[1-9][0-9]{0,28})$/

/** Parses a wire amount (a canonical decimal string) into a uint96 bigint. */
export function parseUint96(decimal: string): bigint {
  if (!canonicalDecimal.test(decimal)) {
    throw new SessionV2Error('amount_out_of_range', 'The amount must be a canonical decimal string of a uint96.')
  }
  return assertUint96(BigInt(decimal))
}
