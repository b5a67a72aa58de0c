// The one change to mppx's world in the interop scripts is anvil's, not
// mppx's: anvil's `eth_fillTransaction` ignores the calls of a Tempo `0x76`
// transaction and under-reports its gas (an anvil defect, docs/local-chain.md),
// so this client's transport raises the gas it reports for such transactions
// to `gasFor0x76`. Nothing else is touched.
import { createClient, custom, defineChain, type EIP1193RequestFn, http } from 'viem'
import { tempoLocalnet } from 'viem/chains'

export function anvilClient(rpcUrl: string, chainId: number, gasFor0x76: bigint) {
  const rpc = http(rpcUrl)({})
  const request: EIP1193RequestFn = async (args) => {
    const result = (await rpc.request(args)) as Record<string, unknown>
    if (args.method === 'eth_fillTransaction' && typeof result === 'object' && result !== null) {
      const tx = result.tx as Record<string, unknown> | undefined
      if (tx && Array.isArray(tx.calls) && BigInt(String(tx.gas ?? '0x0')) < gasFor0x76) tx.gas = `0x${gasFor0x76.toString(16)}`
    }
    return result as never
  }
  const chain = defineChain({ ...tempoLocalnet, id: chainId, rpcUrls: { default: { http: [rpcUrl] } } })
  return createClient({ chain, transport: custom({ request }) })
}
