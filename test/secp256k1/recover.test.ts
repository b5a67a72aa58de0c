// recoverAddress asks the backend only for input that passed the byte checks:
// a spy on every backend shows a refused signature costs no recovery.
import fc from 'fast-check'
import type { Hex } from 'viem'
import { privateKeyToAccount, sign } from 'viem/accounts'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { backendNames } from '../../src/secp256k1/backend.js'
import { InvalidSignatureError, type InvalidSignatureReason } from '../../src/secp256k1/errors.js'
import { recoverAddress } from '../../src/secp256k1/recover.js'
import { selectRecoveryBackend } from '../../src/secp256k1/select.js'
import { curveOrder, halfCurveOrder } from '../../src/secp256k1/signature.js'
import { digest, fieldsOf, privateKey, signatureOf } from './arbitraries.js'

const backends = backendNames.map((name) => selectRecoveryBackend(name).backend)
const max256 = (1n << 256n) - 1n

/** One way to spoil a valid (digest, signature), and the reason the checks give. */
type Spoiler = { reason: InvalidSignatureReason; spoil: (hash: Hex, signature: Hex) => [Hex, Hex] }

const withFields = (signature: Hex, change: (fields: ReturnType<typeof fieldsOf>) => Partial<ReturnType<typeof fieldsOf>>): Hex => {
  const fields = fieldsOf(signature)
  const { r, s, v } = { ...fields, ...change(fields) }
  return signatureOf(r, s, v)
}

const spoiler: fc.Arbitrary<Spoiler> = fc.oneof(
  fc.constant<Spoiler>({
    reason: 'high-s',
    spoil: (hash, signature) => [hash, withFields(signature, ({ s, v }) => ({ s: curveOrder - s, v: v === 27 ? 28 : 27 }))],
  }),
  fc
    .bigInt({ min: halfCurveOrder + 1n, max: curveOrder - 1n })
    .map<Spoiler>((s) => ({ reason: 'high-s', spoil: (hash, signature) => [hash, withFields(signature, () => ({ s }))] })),
  fc.constant<Spoiler>({ reason: 'r-zero', spoil: (hash, signature) => [hash, withFields(signature, () => ({ r: 0n }))] }),
  fc.constant<Spoiler>({ reason: 's-zero', spoil: (hash, signature) => [hash, withFields(signature, () => ({ s: 0n }))] }),
  fc
    .bigInt({ min: curveOrder, max: max256 })
    .map<Spoiler>((r) => ({ reason: 'r-range', spoil: (hash, signature) => [hash, withFields(signature, () => ({ r }))] })),
  fc
    .bigInt({ min: curveOrder, max: max256 })
    .map<Spoiler>((s) => ({ reason: 's-range', spoil: (hash, signature) => [hash, withFields(signature, () => ({ s }))] })),
  fc
    .integer({ min: 0, max: 255 })
    .filter((v) => ![0, 1, 27, 28].includes(v))
    .map<Spoiler>((v) => ({ reason: 'recovery-byte', spoil: (hash, signature) => [hash, withFields(signature, () => ({ v }))] })),
  fc
    .integer({ min: 0, max: 70 })
    .filter((length) => length !== 65)
    .map<Spoiler>((length) => ({
      reason: 'signature-format',
      spoil: (hash, signature) => [
        hash,
        `0x${signature
          .slice(2)
          .padEnd(length * 2, '0')
          .slice(0, length * 2)}`,
      ],
    })),
  fc
    .integer({ min: 0, max: 40 })
    .filter((length) => length !== 32)
    .map<Spoiler>((length) => ({
      reason: 'digest-format',
      spoil: (hash, signature) => [
        `0x${hash
          .slice(2)
          .padEnd(length * 2, '0')
          .slice(0, length * 2)}`,
        signature,
      ],
    })),
)

afterEach(() => {
  vi.restoreAllMocks()
})

describe('recoverAddress', () => {
  it('refuses every spoiled signature before any backend is asked, and asks for the unspoiled one', async () => {
    const spies = backends.map((backend) => vi.spyOn(backend, 'recover'))
    await fc.assert(
      fc.asyncProperty(privateKey, digest, spoiler, async (key, hash, { reason, spoil }) => {
        const signature = await sign({ hash, privateKey: key, to: 'hex' })
        const [badHash, badSignature] = spoil(hash, signature)
        for (const backend of backends) {
          const refusal = (() => {
            try {
              recoverAddress(backend, badHash, badSignature)
            } catch (error) {
              return error
            }
          })()
          expect(refusal).toBeInstanceOf(InvalidSignatureError)
          expect((refusal as InvalidSignatureError).reason).toBe(reason)
        }
        for (const spy of spies) expect(spy).not.toHaveBeenCalled()

        // The spies do see a call: the unspoiled signature reaches every backend once.
        const signer = privateKeyToAccount(key).address.toLowerCase()
        for (const backend of backends) expect(recoverAddress(backend, hash, signature)).toBe(signer)
        for (const spy of spies) expect(spy).toHaveBeenCalledTimes(1)
        for (const spy of spies) spy.mockClear()
      }),
      { numRuns: 150 },
    )
  })
})
