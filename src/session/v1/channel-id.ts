import { type Address, encodeAbiParameters, type Hex, keccak256 } from 'viem'

export type ChannelIdParameters = {
  payer: Address
  payee: Address
  token: Address
  salt: Hex
  /** Zero address: the payer signs vouchers itself. */
  authorizedSigner: Address
  /** The escrow contract: a channel id is bound to one deployment. */
  escrow: Address
  chainId: number
}

const channelIdParameters = [
  { type: 'address' },
  { type: 'address' },
  { type: 'address' },
  { type: 'bytes32' },
  { type: 'address' },
  { type: 'address' },
  { type: 'uint256' },
] as const

/**
 * The v1 channel id, as the escrow's `computeChannelId`:
 * keccak256(abi.encode(payer, payee, token, salt, authorizedSigner, escrow, chainId)).
 * Used by the server (to check an open transaction's channel) and by the client (to name the channel it opens).
 */
export function computeChannelId(p: ChannelIdParameters): Hex {
  // Lowercase first: mixed case is accepted input (session spec §Encoding), and viem refuses a mixed-case address whose EIP-55 checksum is wrong.
  const lower = (address: Address) => address.toLowerCase() as Address
  const values = [
    lower(p.payer),
    lower(p.payee),
    lower(p.token),
    p.salt,
    lower(p.authorizedSigner),
    lower(p.escrow),
    BigInt(p.chainId),
  ] as const
  return keccak256(encodeAbiParameters(channelIdParameters, values))
}
