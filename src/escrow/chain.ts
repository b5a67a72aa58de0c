// viem chain objects for the escrow's chain, built from configuration rather
// than from viem's fixed chain list (the gateway runs against Tempo networks,
// local anvils and plain EVM chains alike).
import type { Address, Chain } from 'viem'
import { foundry, tempoLocalnet } from 'viem/chains'

export type TempoChainOptions = {
  id: number
  rpcUrl: string
  /**
   * TIP-20 token the chain's own transactions (settle, close) pay fees in.
   * With it set, viem's Tempo config sends `0x76` transactions; without it,
   * viem sends EIP-1559 ones (Tempo accepts those too and charges the sender's
   * default fee token).
   */
  feeToken?: Address
}

export type EvmChainOptions = {
  id: number
  rpcUrl: string
}

/**
 * A Tempo chain: `tempoLocalnet`'s Tempo config (formatters, `0x76`
 * serializer, fee-token handling) with this network's id and RPC URL.
 */
export function tempoChain({ id, rpcUrl, feeToken }: TempoChainOptions): Chain {
  const chain = tempoLocalnet.extend({
    id,
    rpcUrls: { default: { http: [rpcUrl] } },
    ...(feeToken === undefined ? {} : { feeToken: feeToken.toLowerCase() as Address }),
  })
  // The generic `Chain` type does not declare Tempo's `feeToken`; the object carries it.
  return chain as unknown as Chain
}

/**
 * Whether `chain` is a Tempo chain (from `tempoChain`, or one of viem's):
 * fees in TIP-20 tokens, 2D and expiring nonces. It carries Tempo's
 * transaction serializer, which no other chain does.
 */
export function isTempoChain(chain: Chain): boolean {
  return chain.serializers?.transaction !== undefined && chain.serializers.transaction === tempoLocalnet.serializers?.transaction
}

/** A standard EVM chain (EIP-1559 transactions), e.g. a plain anvil. */
export function evmChain({ id, rpcUrl }: EvmChainOptions): Chain {
  return { ...foundry, id, rpcUrls: { default: { http: [rpcUrl] } } }
}
