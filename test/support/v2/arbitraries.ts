// fast-check arbitraries for the v2 property tests, and a way to read the
// code of a SessionV2Error without matching on messages.
import fc from 'fast-check'
import { type Address, bytesToHex, type Hex } from 'viem'
import { maxUint96 } from '../../../src/session/v2/amount.js'
import type { ChannelDescriptor } from '../../../src/session/v2/descriptor.js'
import { SessionV2Error, type SessionV2ErrorCode } from '../../../src/session/v2/errors.js'

const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length }).map((b) => bytesToHex(b))

/** The same hex digits in a random mix of upper and lower case (the `0x` stays lowercase). */
const anyCase = (hex: fc.Arbitrary<Hex>) =>
  hex.chain((value) =>
    fc
      .array(fc.boolean(), { minLength: value.length - 2, maxLength: value.length - 2 })
      .map((upper) => `0x${[...value.slice(2)].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('')}`),
  )

export const address = bytes(20) as fc.Arbitrary<Address>
export const bytes32 = bytes(32)
export const mixedCaseAddress = anyCase(address) as fc.Arbitrary<Address>
export const mixedCaseBytes32 = anyCase(bytes32)
export const uint96 = fc.bigInt({ min: 0n, max: maxUint96 })
export const chainId = fc.integer({ min: 1, max: 2 ** 32 })

/** A lowercase descriptor; operator and authorizedSigner are the zero address about a third of the time. */
export const descriptor: fc.Arbitrary<ChannelDescriptor> = fc.record({
  payer: address,
  payee: address,
  operator: fc.oneof(fc.constant('0x0000000000000000000000000000000000000000' as Address), address),
  token: address,
  salt: bytes32,
  authorizedSigner: fc.oneof(fc.constant('0x0000000000000000000000000000000000000000' as Address), address),
  expiringNonceHash: bytes32,
})

/** The same descriptor with every hex field in a random mix of cases. */
export const mixedCaseDescriptor = fc.record({
  payer: mixedCaseAddress,
  payee: mixedCaseAddress,
  operator: mixedCaseAddress,
  token: mixedCaseAddress,
  salt: mixedCaseBytes32,
  authorizedSigner: mixedCaseAddress,
  expiringNonceHash: mixedCaseBytes32,
})

/** The code of the SessionV2Error `run` throws; rethrows anything else; undefined when it does not throw. */
export function errorCode(run: () => unknown): SessionV2ErrorCode | undefined {
  try {
    run()
  } catch (error) {
    if (error instanceof SessionV2Error) return error.code
    throw error
  }
  return undefined
}
