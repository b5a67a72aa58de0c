// Every backend against viem and against each other: the same signer from the
// same canonical input, and the same refusal where no public key follows.
import fc from 'fast-check'
import { type Address, type Hex, recoverAddress as viemRecoverAddress } from 'viem'
import { privateKeyToAccount, sign } from 'viem/accounts'
import { Secp256k1 } from 'viem/tempo'
import { describe, expect, it, vi } from 'vitest'
import { backendNames, type RecoveryBackend } from '../../src/secp256k1/backend.js'
import { UnrecoverableSignatureError } from '../../src/secp256k1/errors.js'
import { recoverAddress } from '../../src/secp256k1/recover.js'
import { selectRecoveryBackend } from '../../src/secp256k1/select.js'
import { type CanonicalSignature, checkSignature, curveOrder, halfCurveOrder } from '../../src/secp256k1/signature.js'
import { wasmBackend } from '../../src/secp256k1/wasm.js'
import { loadWasmModule } from '../../src/secp256k1/wasm-module-node.js'
import { digest, privateKey, signatureOf, word } from './arbitraries.js'
import { publicVectors } from './vectors.js'

// All three load on Node 20, linux-x64: the addon ships prebuilt in the secp256k1 package.
const backends: RecoveryBackend[] = backendNames.map((name) => selectRecoveryBackend(name).backend)
const fieldPrime = Secp256k1.noble.CURVE.Fp.ORDER

/** What each backend answers: the address, or the class of error it threw. */
function outcomes(hash: Hex, signature: Hex): Record<string, Address | string> {
  const answers: Record<string, Address | string> = {}
  for (const backend of backends) {
    try {
      answers[backend.name] = recoverAddress(backend, hash, signature)
    } catch (error) {
      answers[backend.name] =
        error instanceof UnrecoverableSignatureError && error.backend === backend.name ? 'unrecoverable' : String(error)
    }
  }
  return answers
}

const everyBackend = (answer: Address | string) => Object.fromEntries(backendNames.map((name) => [name, answer]))

/** viem's answer for the same input, lowercase, or 'unrecoverable' when it throws. */
async function viemOutcome(hash: Hex, signature: Hex): Promise<Address | string> {
  try {
    return (await viemRecoverAddress({ hash, signature })).toLowerCase() as Address
  } catch {
    return 'unrecoverable'
  }
}

describe('recovery backends', () => {
  it('are native, wasm and noble on Node', () => {
    expect(backends.map((backend) => backend.name)).toEqual(['native', 'wasm', 'noble'])
  })

  it('recover the public vectors', () => {
    for (const vector of publicVectors)
      expect(outcomes(vector.digest, vector.signature), vector.source).toEqual(everyBackend(vector.address))
  })

  it('recover the signer of what viem signs, for random keys and digests', async () => {
    await fc.assert(
      fc.asyncProperty(privateKey, digest, async (key, hash) => {
        const signature = await sign({ hash, privateKey: key, to: 'hex' })
        const signer = privateKeyToAccount(key).address.toLowerCase()
        expect(await viemOutcome(hash, signature)).toBe(signer)
        expect(outcomes(hash, signature)).toEqual(everyBackend(signer))
      }),
      { numRuns: 200 },
    )
  })

  it('agree with viem on arbitrary canonical r, s, v, whether or not a public key follows', async () => {
    let unrecoverable = 0
    await fc.assert(
      fc.asyncProperty(
        digest,
        fc.bigInt({ min: 1n, max: curveOrder - 1n }),
        fc.bigInt({ min: 1n, max: halfCurveOrder }),
        fc.constantFrom(27, 28),
        async (hash, r, s, v) => {
          const signature = signatureOf(r, s, v)
          const expected = await viemOutcome(hash, signature)
          if (expected === 'unrecoverable') unrecoverable++
          expect(outcomes(hash, signature)).toEqual(everyBackend(expected))
        },
      ),
      { numRuns: 300 },
    )
    // About half of all r are no x-coordinate of the curve: both outcomes were exercised.
    expect(unrecoverable).toBeGreaterThan(50)
  })

  it('read a digest at or above n modulo n, as ECDSA does', async () => {
    const key = `0x${'46'.repeat(32)}` as Hex
    const signer = privateKeyToAccount(key).address.toLowerCase()
    for (const reduced of [0n, 1n, (1n << 256n) - 1n - curveOrder]) {
      const signature = await sign({ hash: `0x${word(reduced)}`, privateKey: key, to: 'hex' })
      expect(outcomes(`0x${word(reduced)}`, signature)).toEqual(everyBackend(signer))
      expect(outcomes(`0x${word(reduced + curveOrder)}`, signature)).toEqual(everyBackend(signer))
    }
  })

  it('refuse an r that is no x-coordinate of the curve', () => {
    // The smallest such x: x³ + 7 has no square root modulo p.
    let x = 1n
    while (isSquare((x ** 3n + 7n) % fieldPrime)) x++
    for (const v of [27, 28]) expect(outcomes(`0x${'ab'.repeat(32)}`, signatureOf(x, 1n, v))).toEqual(everyBackend('unrecoverable'))
  })

  it('refuse a signature whose recovered point is at infinity', () => {
    // R = kG with r = x(R), s = 1 and digest h = k: the key r⁻¹(sR − hG) = r⁻¹(k − k)G is the point at infinity.
    const k = 0x1234567890abcdefn
    const R = Secp256k1.noble.ProjectivePoint.BASE.multiply(k).toAffine()
    expect(R.x < curveOrder).toBe(true)
    const signature = signatureOf(R.x, 1n, R.y % 2n === 0n ? 27 : 28)
    expect(outcomes(`0x${word(k)}`, signature)).toEqual(everyBackend('unrecoverable'))
  })

  it('wasm: replaces its instance after the module traps, which would otherwise lower its stack for good', () => {
    const wasm = wasmBackend(loadWasmModule())
    const [vector] = publicVectors
    const input = checkSignature(vector!.digest, vector!.signature)
    // Unreachable from checked input: a recovery id the binary panics on.
    const trapping = { ...input, recoveryBit: 5 } as unknown as CanonicalSignature
    const { Instance } = WebAssembly
    const instances = vi.spyOn(WebAssembly, 'Instance')
    // The spy constructs with itself as new.target: its instances need the original prototype, whose getter reads `exports`.
    Object.setPrototypeOf(WebAssembly.Instance.prototype, Instance.prototype)
    try {
      for (let i = 1; i <= 3; i++) {
        expect(() => wasm.recover(trapping)).toThrow(UnrecoverableSignatureError)
        expect(instances).toHaveBeenCalledTimes(i)
        expect(wasm.recover(input)).toBe(vector!.address)
      }
    } finally {
      instances.mockRestore()
    }
  })
})

/** Euler's criterion modulo the field prime. */
function isSquare(value: bigint): boolean {
  let result = 1n
  let base = value % fieldPrime
  for (let exponent = (fieldPrime - 1n) / 2n; exponent > 0n; exponent >>= 1n) {
    if (exponent & 1n) result = (result * base) % fieldPrime
    base = (base * base) % fieldPrime
  }
  return value === 0n || result === 1n
}
