// Voucher recovery on every secp256k1 backend (src/secp256k1/) against viem's
// recoverTypedDataAddress, for random payers and vouchers; malformed signatures
// refused before any backend is asked; and the engine recovering on the
// backend it is given.
import fc from 'fast-check'
import { type Address, type Hex, recoverTypedDataAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { PaymentError } from '../../src/errors/payment-error.js'
import { backendNames, type RecoveryBackend } from '../../src/secp256k1/backend.js'
import { InvalidSignatureError, type InvalidSignatureReason } from '../../src/secp256k1/errors.js'
import { selectRecoveryBackend } from '../../src/secp256k1/select.js'
import { curveOrder, halfCurveOrder } from '../../src/secp256k1/signature.js'
import { recoverVoucherSigner, signVoucher, type VoucherContext, voucherDomain, voucherTypes } from '../../src/session/v1/voucher.js'
import { counting, fieldsOf, privateKey, signatureOf } from '../secp256k1/arbitraries.js'
import { engineFixture } from '../support/engine.js'

// All three load on Node 20, linux-x64 (test/secp256k1/selection.int.test.ts).
const backends = backendNames.map((name) => counting(selectRecoveryBackend(name).backend))
const totalCalls = () => backends.reduce((sum, backend) => sum + backend.calls, 0)

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes): Hex => `0x${Buffer.from(bytes).toString('hex')}`)
const voucher = fc.record({ channelId: bytes32, cumulativeAmount: fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }) })
const context = fc.record({
  chainId: fc.integer({ min: 1, max: 2 ** 40 }),
  escrow: fc.uint8Array({ minLength: 20, maxLength: 20 }).map((bytes): Address => `0x${Buffer.from(bytes).toString('hex')}`),
})

const viemSigner = async (context: VoucherContext, message: { channelId: Hex; cumulativeAmount: bigint }, signature: Hex) =>
  (
    await recoverTypedDataAddress({
      domain: voucherDomain(context.chainId, context.escrow),
      types: voucherTypes,
      primaryType: 'Voucher',
      message,
      signature,
    })
  ).toLowerCase()

/** Spoils one field of a valid 65-byte signature; `reason` is what the byte checks say. */
type Spoiler = { reason: InvalidSignatureReason; spoil: (signature: Hex) => Hex }
const withFields = (signature: Hex, change: Partial<ReturnType<typeof fieldsOf>>) => {
  const { r, s, v } = { ...fieldsOf(signature), ...change }
  return signatureOf(r, s, v)
}
const max256 = 2n ** 256n - 1n
const spoiler: fc.Arbitrary<Spoiler> = fc.oneof(
  // The malleable twin: the same signer to viem, refused here.
  fc.constant<Spoiler>({
    reason: 'high-s',
    spoil: (signature) => {
      const { s, v } = fieldsOf(signature)
      return withFields(signature, { s: curveOrder - s, v: v === 27 ? 28 : 27 })
    },
  }),
  fc
    .bigInt({ min: halfCurveOrder + 1n, max: curveOrder - 1n })
    .map<Spoiler>((s) => ({ reason: 'high-s', spoil: (sig) => withFields(sig, { s }) })),
  fc.constant<Spoiler>({ reason: 'r-zero', spoil: (sig) => withFields(sig, { r: 0n }) }),
  fc.constant<Spoiler>({ reason: 's-zero', spoil: (sig) => withFields(sig, { s: 0n }) }),
  fc.bigInt({ min: curveOrder, max: max256 }).map<Spoiler>((r) => ({ reason: 'r-range', spoil: (sig) => withFields(sig, { r }) })),
  fc.bigInt({ min: curveOrder, max: max256 }).map<Spoiler>((s) => ({ reason: 's-range', spoil: (sig) => withFields(sig, { s }) })),
  fc
    .integer({ min: 0, max: 255 })
    .filter((v) => ![0, 1, 27, 28].includes(v))
    .map<Spoiler>((v) => ({ reason: 'recovery-byte', spoil: (sig) => withFields(sig, { v }) })),
  fc
    .integer({ min: 0, max: 70 })
    .filter((length) => length !== 65)
    .map<Spoiler>((length) => ({
      reason: 'signature-format',
      spoil: (sig) =>
        `0x${sig
          .slice(2)
          .padEnd(length * 2, '0')
          .slice(0, length * 2)}`,
    })),
)

/** The error `recoverVoucherSigner` threw, or undefined. */
function refusal(run: () => unknown): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
}

describe('voucher recovery on every backend', () => {
  it('recovers the address viem recoverTypedDataAddress does, on native, wasm and noble, for random payers, vouchers and domains', async () => {
    expect(backends.map((backend) => backend.name)).toEqual(['native', 'wasm', 'noble'])
    await fc.assert(
      fc.asyncProperty(privateKey, context, voucher, fc.boolean(), async (key, domain, message, bareParity) => {
        const signed = await signVoucher(privateKeyToAccount(key), domain, message)
        // A bare y-parity (0/1) is read as 27/28, as viem reads it.
        const { v } = fieldsOf(signed)
        const signature = bareParity ? withFields(signed, { v: v - 27 }) : signed
        const expected = await viemSigner(domain, message, signed)
        expect(expected).toBe(privateKeyToAccount(key).address.toLowerCase())
        for (const backend of backends) expect(recoverVoucherSigner(domain, { ...message, signature }, backend)).toBe(expected)
      }),
      { numRuns: 150 },
    )
    // Each backend was asked each time: nothing was answered around them.
    for (const backend of backends) expect(backend.calls).toBe(150)
    for (const backend of backends) backend.calls = 0
  })

  it('refuses high-s, zero or out-of-range r and s, bad recovery bytes and bad lengths before any backend is asked', async () => {
    await fc.assert(
      fc.asyncProperty(privateKey, context, voucher, spoiler, async (key, domain, message, { reason, spoil }) => {
        const signature = spoil(await signVoucher(privateKeyToAccount(key), domain, message))
        for (const backend of backends) {
          const error = refusal(() => recoverVoucherSigner(domain, { ...message, signature }, backend))
          expect(error).toBeInstanceOf(PaymentError)
          expect(error).toMatchObject({
            code: 'mpp_payment_verification_failed',
            spec: expect.objectContaining({ type: 'session/invalid-signature' }),
          })
          expect((error as PaymentError).cause).toBeInstanceOf(InvalidSignatureError)
          expect(((error as PaymentError).cause as InvalidSignatureError).reason).toBe(reason)
        }
        expect(totalCalls()).toBe(0)
      }),
      { numRuns: 200 },
    )
  })

  it('refuses, as an invalid signature, a canonical signature from which no key follows', () => {
    // r = 5 is no x-coordinate of the curve (5³ + 7 = 132 is no square modulo p): only the backend can tell.
    const message = { channelId: `0x${'6d'.repeat(32)}` as Hex, cumulativeAmount: 1n }
    const domain = { chainId: 4217, escrow: '0x1234567890abcdef1234567890abcdef12345678' as Address }
    for (const backend of backends) {
      const error = refusal(() => recoverVoucherSigner(domain, { ...message, signature: signatureOf(5n, 1n, 27) }, backend))
      expect(error).toMatchObject({
        code: 'mpp_payment_verification_failed',
        spec: expect.objectContaining({ type: 'session/invalid-signature' }),
      })
      expect(backend.calls).toBe(1)
      backend.calls = 0
    }
  })
})

describe('the session engine', () => {
  it('recovers new vouchers on the backend it is given, and only new ones', async () => {
    for (const backend of backends) {
      const { pay, openPayload, voucher } = engineFixture({ recovery: backend })
      const { channelId, payload } = await openPayload()
      expect((await pay(payload)).status).toBe(200)
      const calls = backend.calls
      const next = await voucher(channelId, 20_000n)
      expect((await pay(next)).status).toBe(200)
      expect(backend.calls).toBe(calls + 1)
      // The same voucher again is a retry: its signer is known, nothing is recovered.
      expect((await pay(next)).status).toBe(200)
      expect(backend.calls).toBe(calls + 1)
    }
  })

  it('refuses a recovery option that is no backend', () => {
    expect(() => engineFixture({ recovery: {} as RecoveryBackend })).toThrow(/tempoSession\.recovery: must implement recover/)
  })
})
