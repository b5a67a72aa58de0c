// The stand-in's committed artifact is a fresh compile of its source, and its
// ABI is the precompile's: viem 2.57's Abis.tip20ChannelReserve, item by item
// (functions with their mutability, events with their indexed inputs, errors).
import { Abis } from 'viem/tempo'
import { describe, expect, it } from 'vitest'
import { reserveStandInAbi } from '../../../contracts-abi/precompile/artifact.js'
import { checkArtifacts } from '../../../scripts/compile-contracts-lib.js'

type Parameter = { name?: string; type: string; indexed?: boolean; components?: readonly Parameter[] }
type Item = {
  type: string
  name?: string
  stateMutability?: string
  inputs?: readonly Parameter[]
  outputs?: readonly Parameter[]
}

// What the ABI means, without solc's extras (internalType, anonymous: false) or
// viem's omissions (unnamed parameters have no `name`, non-indexed event inputs no `indexed`).
function parameter(p: Parameter, inEvent: boolean): unknown {
  return {
    name: p.name ?? '',
    type: p.type,
    ...(inEvent ? { indexed: p.indexed === true } : {}),
    ...(p.components ? { components: p.components.map((c) => parameter(c, false)) } : {}),
  }
}

function meaning(item: Item): unknown {
  const inEvent = item.type === 'event'
  return {
    type: item.type,
    name: item.name,
    stateMutability: item.stateMutability,
    inputs: (item.inputs ?? []).map((p) => parameter(p, inEvent)),
    outputs: item.type === 'function' ? (item.outputs ?? []).map((p) => parameter(p, false)) : undefined,
  }
}

const key = (item: Item) => `${item.type} ${item.name}(${(item.inputs ?? []).map((p) => p.type).join(',')})`

describe('TIP20ChannelReserve stand-in artifact', () => {
  it('is a fresh compile of contracts-abi/precompile/TIP20ChannelReserve.sol', () => {
    expect(checkArtifacts('precompile')).toEqual([])
  })

  it('has exactly the ABI of viem Abis.tip20ChannelReserve, item by item', () => {
    const ours = new Map((reserveStandInAbi as readonly Item[]).map((item) => [key(item), item]))
    const theirs = Abis.tip20ChannelReserve as readonly Item[]
    expect(theirs.length).toBe(35)
    expect([...ours.keys()].sort()).toEqual(theirs.map(key).sort())
    for (const item of theirs) {
      const mine = ours.get(key(item))
      expect(mine, key(item)).toBeDefined()
      expect(meaning(mine!), key(item)).toEqual(meaning(item))
    }
  })
})
