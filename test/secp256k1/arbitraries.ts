// Random inputs for the secp256k1 property tests, and helpers to build signatures field by field.
import fc from 'fast-check'
import { bytesToHex, type Hex } from 'viem'
import type { RecoveryBackend } from '../../src/secp256k1/backend.js'
import { curveOrder } from '../../src/secp256k1/signature.js'

/** A 32-byte big-endian word, 0x-less. */
export const word = (value: bigint) => value.toString(16).padStart(64, '0')

/** A 65-byte r‖s‖v signature from its fields. */
export const signatureOf = (r: bigint, s: bigint, v: number): Hex => `0x${word(r)}${word(s)}${v.toString(16).padStart(2, '0')}`

/** The fields of a 65-byte signature. */
export const fieldsOf = (signature: Hex) => ({
  r: BigInt(`0x${signature.slice(2, 66)}`),
  s: BigInt(`0x${signature.slice(66, 130)}`),
  v: Number.parseInt(signature.slice(130), 16),
})

export const privateKey = fc.bigInt({ min: 1n, max: curveOrder - 1n }).map((key): Hex => `0x${word(key)}`)
export const digest = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => bytesToHex(bytes))

/** A backend that counts what reaches it, in front of a real one. */
export function counting(backend: RecoveryBackend): RecoveryBackend & { calls: number } {
  return {
    name: backend.name,
    calls: 0,
    recover(input) {
      this.calls++
      return backend.recover(input)
    },
  }
}
