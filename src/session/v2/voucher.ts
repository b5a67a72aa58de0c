// v2 vouchers (draft-tempo-session §Voucher Signing Format, sessionProtocol v2):
// EIP-712 domain { name "TIP20 Channel Reserve", version "1", chainId,
// verifyingContract: escrow }, type Voucher(bytes32 channelId,uint96 cumulativeAmount).
import { AbiParameters, Secp256k1, TypedData } from 'ox'
import { type Account, type Address, concat, type Hex, hashDomain, keccak256, stringToHex } from 'viem'
import { assertUint96 } from './amount.js'
import { SessionV2Error } from './errors.js'
import { parseVoucherSignature } from './signature.js'

export const voucherTypes = {
  Voucher: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'cumulativeAmount', type: 'uint96' },
  ],
} as const

/** Where vouchers are redeemed: the escrow (the precompile's address on Tempo) on one chain. */
export type VoucherContext = { chainId: number; escrow: Address }
export type UnsignedVoucher = { channelId: Hex; cumulativeAmount: bigint }
export type SignedVoucher = UnsignedVoucher & { signature: Hex }

export function voucherDomain(context: VoucherContext) {
  return {
    name: 'TIP20 Channel Reserve',
    version: '1',
    chainId: context.chainId,
    verifyingContract: context.escrow.toLowerCase() as Address,
  } as const
}

const domainTypes = {
  EIP712Domain: [
    { name: 'name', type: 'string' },
    { name: 'version', type: 'string' },
    { name: 'chainId', type: 'uint256' },
    { name: 'verifyingContract', type: 'address' },
  ],
} as const

// The separator is fixed per escrow and chain: hashed once, not per voucher.
const domainSeparators = new Map<string, Hex>()

function domainSeparator(context: VoucherContext): Hex {
  const domain = voucherDomain(context)
  const key = `${domain.chainId}:${domain.verifyingContract}`
  let separator = domainSeparators.get(key)
  if (separator === undefined) {
    separator = hashDomain({ domain: { ...domain, chainId: BigInt(domain.chainId) }, types: domainTypes })
    domainSeparators.set(key, separator)
  }
  return separator
}

// hashStruct(voucher) is keccak256(typeHash ‖ channelId ‖ cumulativeAmount), each ABI-encoded in a word (EIP-712
// encodeData; both fields are atomic). The type hash is fixed: hashed once (viem's hashStruct re-encodes and
// re-hashes the type on every call: most of the digest's cost, the paid path's). The encoder still refuses a
// channel id that is not 32 bytes and an amount outside uint96.
const voucherTypeHash = keccak256(stringToHex(TypedData.encodeType({ primaryType: 'Voucher', types: voucherTypes })))
const structLayout = AbiParameters.from(['bytes32 typeHash', 'bytes32 channelId', 'uint96 cumulativeAmount'])

/** keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(voucher)): what the precompile's `getVoucherDigest` returns. */
export function voucherDigest(context: VoucherContext, voucher: UnsignedVoucher): Hex {
  const amount = assertUint96(voucher.cumulativeAmount)
  const struct = keccak256(AbiParameters.encode(structLayout, [voucherTypeHash, voucher.channelId, amount]))
  return keccak256(concat(['0x1901', domainSeparator(context), struct]))
}

/** Signs a voucher with a local account (the payer or its authorized signer): 65 bytes r‖s‖v, low s, lowercase. */
export async function signVoucher(account: Account, context: VoucherContext, voucher: UnsignedVoucher): Promise<Hex> {
  if (account.signTypedData === undefined) throw new Error('signVoucher needs a local account that can sign typed data')
  const signature = await account.signTypedData({
    domain: voucherDomain(context),
    types: voucherTypes,
    primaryType: 'Voucher',
    message: { channelId: voucher.channelId, cumulativeAmount: assertUint96(voucher.cumulativeAmount) },
  })
  return parseVoucherSignature(signature).signature
}

/**
 * The address that signed a voucher, lowercase. Throws a `SessionV2Error` for
 * a signature `parseVoucherSignature` refuses, or one that recovers to no key.
 * The caller compares the result with `expectedVoucherSigner(descriptor)`.
 */
export function recoverVoucherSigner(context: VoucherContext, voucher: SignedVoucher): Address {
  const { r, s, yParity } = parseVoucherSignature(voucher.signature)
  const digest = voucherDigest(context, voucher)
  try {
    return Secp256k1.recoverAddress({ payload: digest, signature: { r, s, yParity } }).toLowerCase() as Address
  } catch (cause) {
    throw new SessionV2Error('signature_invalid', 'The voucher signature does not recover to a key.', { cause })
  }
}
