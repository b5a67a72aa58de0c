// The byte checks every recovery passes first (checkSignature): what is
// canonical, and the reason given for each kind of refusal.
import fc from 'fast-check'
import { hexToBytes, recoverAddress } from 'viem'
import { privateKeyToAccount, sign } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { InvalidSignatureError, type InvalidSignatureReason } from '../../src/secp256k1/errors.js'
import { checkSignature, curveOrder, halfCurveOrder } from '../../src/secp256k1/signature.js'
import { digest, fieldsOf, privateKey, signatureOf } from './arbitraries.js'

const n = curveOrder
const max256 = (1n << 256n) - 1n
const someDigest = `0x${'ab'.repeat(32)}` as const
// A valid low-s r and s: only the field under test varies.
const r = 0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9dn
const s = 0x07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562n

function reasonOf(run: () => unknown): InvalidSignatureReason | undefined {
  try {
    run()
  } catch (error) {
    if (error instanceof InvalidSignatureError) return error.reason
    throw error
  }
  return undefined
}

describe('checkSignature', () => {
  it('accepts what viem signs, with v 27/28 or a bare y-parity 0/1, and reads its fields and bytes', async () => {
    await fc.assert(
      fc.asyncProperty(privateKey, digest, async (key, hash) => {
        const signed = await sign({ hash, privateKey: key, to: 'object' })
        const recoveryBit = signed.yParity!
        for (const v of [27 + recoveryBit, recoveryBit]) {
          const signature = signatureOf(BigInt(signed.r), BigInt(signed.s), v)
          const checked = checkSignature(hash, signature)
          expect(checked).toEqual({
            digest: hexToBytes(hash),
            compact: hexToBytes(signature).subarray(0, 64),
            r: BigInt(signed.r),
            s: BigInt(signed.s),
            recoveryBit,
          })
          // Hex digits in either case.
          expect(checkSignature(`0x${hash.slice(2).toUpperCase()}`, `0x${signature.slice(2).toUpperCase()}`)).toEqual(checked)
        }
      }),
      { numRuns: 50 },
    )
  })

  it('refuses a digest that is not 32 bytes of 0x-prefixed hex', () => {
    for (const bad of [
      '0x',
      `0x${'ab'.repeat(31)}`,
      `0x${'ab'.repeat(33)}`,
      `0x${'ab'.repeat(31)}a`,
      `${'ab'.repeat(32)}`,
      `0x${'ab'.repeat(31)}zz`,
    ]) {
      expect(
        reasonOf(() => checkSignature(bad as `0x${string}`, signatureOf(r, s, 27))),
        bad,
      ).toBe('digest-format')
    }
  })

  it('refuses a signature that is not 65 bytes of 0x-prefixed hex (an EIP-2098 compact form too)', () => {
    const good = signatureOf(r, s, 27)
    for (const bad of [good.slice(0, 130), `${good}00`, good.slice(0, 131), `${good.slice(0, 128)}zz1b`, good.slice(2)]) {
      expect(
        reasonOf(() => checkSignature(someDigest, bad as `0x${string}`)),
        bad,
      ).toBe('signature-format')
    }
  })

  it('refuses every recovery byte but 0, 1, 27 and 28', () => {
    for (let v = 0; v < 256; v++) {
      const expected = [0, 1, 27, 28].includes(v) ? undefined : 'recovery-byte'
      expect(
        reasonOf(() => checkSignature(someDigest, signatureOf(r, s, v))),
        `v = ${v}`,
      ).toBe(expected)
    }
  })

  it('takes r in [1, n − 1] and s in [1, n/2], and says which bound another value breaks', () => {
    const cases: [bigint, bigint, InvalidSignatureReason | undefined][] = [
      [1n, s, undefined],
      [n - 1n, s, undefined],
      [0n, s, 'r-zero'],
      [n, s, 'r-range'],
      [max256, s, 'r-range'],
      [r, 1n, undefined],
      [r, halfCurveOrder, undefined],
      [r, 0n, 's-zero'],
      [r, halfCurveOrder + 1n, 'high-s'],
      [r, n - 1n, 'high-s'],
      [r, n, 's-range'],
      [r, max256, 's-range'],
    ]
    for (const [rValue, sValue, expected] of cases) {
      expect(
        reasonOf(() => checkSignature(someDigest, signatureOf(rValue, sValue, 28))),
        `r = ${rValue}, s = ${sValue}`,
      ).toBe(expected)
    }
  })

  it('refuses r and s at or above n, and s above n/2, wherever they fall', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: n, max: max256 }), fc.bigInt({ min: halfCurveOrder + 1n, max: n - 1n }), (outside, high) => {
        expect(reasonOf(() => checkSignature(someDigest, signatureOf(outside, s, 27)))).toBe('r-range')
        expect(reasonOf(() => checkSignature(someDigest, signatureOf(r, outside, 27)))).toBe('s-range')
        expect(reasonOf(() => checkSignature(someDigest, signatureOf(r, high, 27)))).toBe('high-s')
      }),
    )
  })

  it('refuses the high-s twin of every signature, although viem recovers the same signer from it', async () => {
    await fc.assert(
      fc.asyncProperty(privateKey, digest, async (key, hash) => {
        const { r: rValue, s: sValue, v } = fieldsOf(await sign({ hash, privateKey: key, to: 'hex' }))
        const twin = signatureOf(rValue, n - sValue, v === 27 ? 28 : 27)
        expect(reasonOf(() => checkSignature(hash, twin))).toBe('high-s')
        expect(await recoverAddress({ hash, signature: twin })).toBe(privateKeyToAccount(key).address)
      }),
      { numRuns: 30 },
    )
  })
})
