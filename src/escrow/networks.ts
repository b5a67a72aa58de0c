import type { Address } from 'viem'

/** What a payee on a known Tempo network need not configure: where to reach it, its v1 escrow, the token channels hold. */
export type Network = { name: string; rpcUrl: string; escrow: Address; currency: Address }

/**
 * Tempo networks by chain id, with the v1 `TempoStreamChannel` escrow and the
 * default currency the published mppx client (0.11) uses on each, so a
 * payee configures only its keys. The escrow's ABI is checked against mppx's
 * (test/escrow/abi.test.ts).
 */
export const knownNetworks: Readonly<Record<number, Network>> = {
  4217: {
    name: 'Tempo mainnet',
    rpcUrl: 'https://rpc.tempo.xyz',
    escrow: '0x33b901018174ddabe4841042ab76ba85d4e24f25',
    // USDC on Tempo.
    currency: '0x20c000000000000000000000b9537d11c60e8b50',
  },
  42431: {
    name: 'Tempo Moderato testnet',
    rpcUrl: 'https://rpc.moderato.tempo.xyz',
    escrow: '0xe1c4d3dce17bc111181ddf716f75bae49e61a336',
    // pathUSD.
    currency: '0x20c0000000000000000000000000000000000000',
  },
}
