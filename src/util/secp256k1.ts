/**
 * Half the secp256k1 group order. A signature with a larger `s` is the
 * malleable twin of a canonical one (`s' = n − s`): the escrow, the chain and
 * this server accept only `s ≤ n/2`.
 */
export const secp256k1HalfOrder = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n
