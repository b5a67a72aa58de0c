// Storage slots the stand-in proxy writes, and the node's simulation context.
import { type Address, encodeAbiParameters, type Hex, keccak256, stringToHex } from 'viem'

/**
 * The stand-in's hand-off slot for an open by `payer` with `salt`: entry
 * keccak256(abi.encode(payer, salt)) of its mapping at slot 2
 * (contracts-abi/precompile/TIP20ChannelReserve.sol, `openContexts`).
 */
export function openContextSlot(payer: Address, salt: Hex): Hex {
  const key = keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'bytes32' }], [payer, salt]))
  return keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'uint256' }], [key, 2n]))
}

/**
 * `allowance[owner][spender]` of a TIP-20 token on anvil: the allowances mapping
 * is at slot 10, so keccak256(spender . keccak256(owner . 10)) (measured for
 * pathUSD; shared/design/local-chain.md). A test reads it back with `allowance()`.
 */
export function tip20AllowanceSlot(owner: Address, spender: Address): Hex {
  const inner = keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [owner, 10n]))
  return keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'bytes32' }], [spender, inner]))
}

/** What the node hands `open` in eth_call/eth_estimateGas: the 32 ASCII bytes themselves, not a hash of them. */
export const rpcSimulationContext: Hex = stringToHex('TEMPO_RPC_SIMULATION_MPP_CONTEXT', { size: 32 })
