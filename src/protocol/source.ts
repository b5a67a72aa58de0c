import type { Address } from 'viem'

/** The payer address of a credential `source` `did:pkh:eip155:<chainId>:<address>`, if it is one for `chainId`; lowercase. */
export function sourceAddress(source: string, chainId: number): Address | undefined {
  const match = /^did:pkh:eip155:(\d+):(0x[0-9a-fA-F]{40})$/.exec(source)
  if (match === null || Number(match[1]) !== chainId) return undefined
  return match[2]!.toLowerCase() as Address
}
