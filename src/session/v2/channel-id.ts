import { AbiParameters } from 'ox'
import { type Address, type Hex, keccak256 } from 'viem'
import type { ChannelDescriptor } from './descriptor.js'

// ox's encoder with checksumAddress off: viem's checksums every address it encodes, about 40 µs of the
// ~50 µs this took on the paid path (every v2 payload's id is recomputed); the descriptor is lowercase already.
const channelIdParameters = AbiParameters.from([
  'address payer',
  'address payee',
  'address operator',
  'address token',
  'bytes32 salt',
  'address authorizedSigner',
  'bytes32 expiringNonceHash',
  'address escrow',
  'uint256 chainId',
])

/**
 * The v2 channel id: keccak256(abi.encode(payer, payee, operator, token, salt,
 * authorizedSigner, expiringNonceHash, escrow, chainId)), as the precompile's
 * `computeChannelId` (TIP-1034 §Channel Identity). Lowercase.
 */
export function computeChannelId(descriptor: ChannelDescriptor, escrow: Address, chainId: number): Hex {
  const d = descriptor
  return keccak256(
    AbiParameters.encode(
      channelIdParameters,
      [
        d.payer,
        d.payee,
        d.operator,
        d.token,
        d.salt,
        d.authorizedSigner,
        d.expiringNonceHash,
        escrow.toLowerCase() as Address,
        BigInt(chainId),
      ],
      { checksumAddress: false },
    ),
  )
}
