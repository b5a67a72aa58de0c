// A channel as the chain would show it, for the pure accounting tests: the
// same payer, payee, token and deposit (1,000) everywhere, and placeholder
// signatures (the accounting never checks them).
import type { Hex } from 'viem'

export const testChannelId = `0x${'ab'.repeat(32)}` as Hex
export const testOnChainChannel = {
  payer: '0x1111111111111111111111111111111111111111',
  payee: '0x2222222222222222222222222222222222222222',
  token: '0x20c0000000000000000000000000000000000000',
  authorizedSigner: '0x0000000000000000000000000000000000000000',
  deposit: 1_000n,
  settled: 0n,
  closeRequestedAt: 0n,
  finalized: false,
} as const

/** A distinct placeholder signature per `n` (65 bytes). */
export const placeholderSignature = (n: number) => `0x${n.toString(16).padStart(130, '0')}` as Hex
