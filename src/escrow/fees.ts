// What a transaction's fee is paid in, and how much of it the sender must
// hold, as the chain charges it. On Tempo the fee is paid in a USD TIP-20
// token: the transaction's own `feeToken`, else the token the sender chose in
// the fee manager, else pathUSD. Gas prices there are in attodollars (10^-18
// USD) and TIP-20 amounts in microdollars, so a fee in base units is
// ceil(gas × price / 10^12) (measured: docs/local-chain.md). Elsewhere the
// fee is gas × price in wei of the native coin.
import { type Address, type PublicClient, zeroAddress } from 'viem'
import { Abis, Addresses } from 'viem/tempo'
import { pathUsdAddress } from '../../contracts-abi/tip20.js'

/** Attodollars per TIP-20 base unit. */
const tempoFeeScale = 10n ** 12n

/** Tempo's fee manager: where the chain moves fees to, and where a sender chooses its fee token. */
export const feeManager: Address = Addresses.feeManager

/** A fee for `gas` at `pricePerGas`: the fee token's base units on Tempo (rounded up, as the chain does), wei elsewhere. */
export function feeAmount(gas: bigint, pricePerGas: bigint, tempo: boolean): bigint {
  if (!tempo) return gas * pricePerGas
  return (gas * pricePerGas + tempoFeeScale - 1n) / tempoFeeScale
}

/**
 * The token Tempo takes a transaction's fee in (lowercase): the one it names,
 * else the sender's choice in the fee manager (`chosen`; the zero address is
 * no choice), else pathUSD.
 */
export function tempoFeeToken(named: Address | undefined, chosen: Address | undefined): Address {
  if (named !== undefined) return named.toLowerCase() as Address
  if (chosen !== undefined && chosen !== zeroAddress) return chosen.toLowerCase() as Address
  return pathUsdAddress
}

/** The fee token `sender` chose in Tempo's fee manager (the zero address when none). */
export function chosenFeeToken(client: PublicClient, sender: Address, blockTag: 'latest' | 'pending' = 'latest'): Promise<Address> {
  return client.readContract({ address: feeManager, abi: Abis.feeManager, functionName: 'userTokens', args: [sender], blockTag })
}

/** What the payee's settle/close may pay per gas (configuration): a cap on the fee, and the tip. */
export type PayeeFeeCaps = {
  /** The most it pays per gas, base fee and tip together. Default: no cap. */
  maxFeePerGas?: bigint
  /** The tip to the block producer per gas. Default 0: Tempo's base fee is fixed, a tip buys nothing there. */
  maxPriorityFeePerGas?: bigint
}

/**
 * The fees per gas a payee's settle/close is sent with: the block's base fee
 * with a fifth on top (viem's headroom for a rising base fee) plus the tip,
 * never above the cap. `undefined` when the base fee plus the tip is above
 * the cap: such a transaction would not be mined now.
 */
export function payeeFeesPerGas(
  baseFeePerGas: bigint,
  caps: PayeeFeeCaps,
): { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | undefined {
  const tip = caps.maxPriorityFeePerGas ?? 0n
  const wanted = baseFeePerGas + (baseFeePerGas + 4n) / 5n + tip
  const cap = caps.maxFeePerGas
  if (cap === undefined) return { maxFeePerGas: wanted, maxPriorityFeePerGas: tip }
  if (baseFeePerGas + tip > cap) return undefined
  return { maxFeePerGas: wanted < cap ? wanted : cap, maxPriorityFeePerGas: tip }
}
