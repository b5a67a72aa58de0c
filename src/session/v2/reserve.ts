// Fixed facts of the TIP-20 channel reserve precompile (TIP-1034).
import type { Address } from 'viem'

/** The precompile's address (ASCII "MPP"), lowercase. */
export const tip20ChannelReserveAddress: Address = '0x4d50500000000000000000000000000000000000'

/** Seconds between a payer's `requestClose` and the earliest `withdraw`. */
export const closeGracePeriodSeconds = 900n
