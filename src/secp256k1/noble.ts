import { Secp256k1 } from 'viem/tempo'
import { addressOfPublicKey } from './address.js'
import type { RecoveryBackend } from './backend.js'
import { UnrecoverableSignatureError } from './errors.js'

/**
 * @noble/curves, pure JavaScript: runs everywhere, the slowest. Reached
 * through `Secp256k1.noble` of `viem/tempo`, a static import: viem's own
 * `recoverPublicKey` imports the curve dynamically on every call, which costs a
 * loader round trip per recovery under tsx on Node 20 (src/session/voucher.ts).
 */
export const nobleBackend: RecoveryBackend = {
  name: 'noble',
  recover(input) {
    let publicKey: Uint8Array
    try {
      publicKey = new Secp256k1.noble.Signature(input.r, input.s)
        .addRecoveryBit(input.recoveryBit)
        .recoverPublicKey(input.digest)
        .toRawBytes(false)
    } catch (cause) {
      // The input is canonical, so what remains to fail is the curve: r is no x-coordinate, or the point is at infinity.
      throw new UnrecoverableSignatureError('noble', { cause })
    }
    return addressOfPublicKey(publicKey)
  },
}
