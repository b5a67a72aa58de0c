// What the workerd tests share: the chain of the global setup's anvil, the
// paid route and a chat request for it.
import { type Address, createPublicClient, type Hex, http } from 'viem'
import { inject } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { tempoChain } from '../../src/escrow/chain.js'

export const pathUsd = '0x20c0000000000000000000000000000000000000' as Address
export const zeroFees = { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }
export const url = 'https://gateway.test/v1/mpp/chat/completions'

/** A paid chat completion request's init: one user message, at most 16 tokens. */
export const ask = (content: string, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', ...headers },
  body: JSON.stringify({ model: 'local-echo', max_tokens: 16, messages: [{ role: 'user', content }] }),
})

/** The anvil of the global setup, in Tempo mode, paying fees in pathUSD. */
export const chain = () => tempoChain({ id: 31337, rpcUrl: inject('rpcUrl'), feeToken: pathUsd })

/** The cumulative amounts the escrow's `Settled` events record for `channelId`, in order. */
export async function settledAmounts(channelId: Hex): Promise<bigint[]> {
  const events = await createPublicClient({ chain: chain(), transport: http(inject('rpcUrl')) }).getContractEvents({
    address: inject('escrowAddress') as Address,
    abi: escrowAbi,
    eventName: 'Settled',
    args: { channelId },
    fromBlock: 0n,
  })
  return events.map((event) => event.args.cumulativeAmount!)
}
