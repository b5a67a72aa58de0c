import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import type { Address } from 'viem'

/** The Ethereum address of a 65-byte uncompressed public key 0x04‖x‖y: the last 20 bytes of keccak256(x‖y), lowercase. */
export function addressOfPublicKey(uncompressed: Uint8Array): Address {
  return `0x${bytesToHex(keccak_256(uncompressed.subarray(1)).subarray(12))}`
}
