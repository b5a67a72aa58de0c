import { type Address, encodeAbiParameters, type Hex, keccak256 } from 'viem'
import type { ChannelDescriptor } from './descriptor.js'

const channelIdParameters = [
  { type: 'address' }, // payer
  { type: 'address' }, // payee
  { type: 'address' }, // operator
  { type: 'address' }, // token
  { type: 'bytes32' }, // salt
  { type: 'address' }, // authorizedSigner
  { type: 'bytes32' }, // expiringNonceHash
  { type: 'address' }, // escrow
  { type: 'uint256' }, // chainId
] as const

/**
 * The v2 channel id: keccak256(abi.encode(payer, payee, operator, token, salt,
 * authorizedSigner, expiringNonceHash, escrow, chainId)), as the precompile's
 * `computeChannelId` (TIP-1034 §Channel Identity). Lowercase.
 */
export function computeChannelId(descriptor: ChannelDescriptor, escrow: Address, chainId: number): Hex {
  const d = descriptor
  return keccak256(
    encodeAbiParameters(channelIdParameters, [
      d.payer,
      d.payee,
      d.operator,
      d.token,
      d.salt,
      d.authorizedSigner,
      d.expiringNonceHash,
      escrow.toLowerCase() as Address,
      BigInt(chainId),
    ]),
  )
}
