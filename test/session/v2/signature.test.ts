// Voucher signature classification, checked against ox's TIP-1020 envelope
// codec: every accepted signature decodes in ox to the same secp256k1 (r, s,
// yParity); every refused P256/WebAuthn/keychain envelope is one ox recognises
// as that type. The chain's own verdicts are checked in stand-in.int.test.ts.
import fc from 'fast-check'
import { P256, Secp256k1, Signature } from 'ox'
import { SignatureEnvelope } from 'ox/tempo'
import { type Hex, keccak256, stringToHex } from 'viem'
import { describe, expect, it } from 'vitest'
import { parseVoucherSignature } from '../../../src/session/v2/signature.js'
import { bytes32, errorCode } from '../../support/v2/arbitraries.js'

const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const privateKey = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
const payload = keccak256(stringToHex('voucher digest'))
const signed = Secp256k1.sign({ payload, privateKey })
const word = (value: bigint) => value.toString(16).padStart(64, '0')
const rsv = (r: bigint, s: bigint, v: number) => `0x${word(r)}${word(s)}${v.toString(16).padStart(2, '0')}` as Hex
const secp256k1 = rsv(signed.r, signed.s, signed.yParity + 27)

describe('parseVoucherSignature', () => {
  it('accepts 65-byte secp256k1 with v 27/28 or 0/1, as ox decodes it', () => {
    fc.assert(
      fc.property(bytes32, (digest) => {
        const { r, s, yParity } = Secp256k1.sign({ payload: digest, privateKey })
        for (const v of [yParity + 27, yParity]) {
          const signature = rsv(r, s, v)
          const parsed = parseVoucherSignature(signature.toUpperCase().replace('0X', '0x'))
          expect(parsed).toEqual({ type: 'secp256k1', r, s, yParity, signature })
          const ox = SignatureEnvelope.deserialize(signature)
          expect(ox.type === 'secp256k1' && ox.signature).toEqual({ r, s, yParity })
        }
      }),
    )
  })

  it('refuses the high-s twin, which ox and viem both accept and recover to the same signer', () => {
    const twin = rsv(signed.r, n - signed.s, 1 - signed.yParity + 27)
    const ox = SignatureEnvelope.deserialize(twin)
    expect(ox.type).toBe('secp256k1')
    expect(Secp256k1.recoverAddress({ payload, signature: Signature.fromHex(twin) })).toBe(
      Secp256k1.recoverAddress({ payload, signature: signed }),
    )
    expect(errorCode(() => parseVoucherSignature(twin))).toBe('signature_not_canonical')
  })

  it('takes s = n/2 as the highest low s, and refuses out-of-range r, s and v', () => {
    const halfN = n >> 1n
    expect(parseVoucherSignature(rsv(1n, halfN, 27)).s).toBe(halfN)
    expect(errorCode(() => parseVoucherSignature(rsv(1n, halfN + 1n, 27)))).toBe('signature_not_canonical')
    expect(errorCode(() => parseVoucherSignature(rsv(0n, 1n, 27)))).toBe('signature_not_canonical')
    expect(errorCode(() => parseVoucherSignature(rsv(1n, 0n, 27)))).toBe('signature_not_canonical')
    expect(errorCode(() => parseVoucherSignature(rsv(n, 1n, 27)))).toBe('signature_not_canonical')
    for (const v of [2, 26, 29, 255])
      expect(
        errorCode(() => parseVoucherSignature(rsv(signed.r, signed.s, v))),
        `v ${v}`,
      ).toBe('signature_not_canonical')
  })

  it('refuses 64-byte EIP-2098 compact signatures (TIP-1020 does not accept them)', () => {
    const compact = Signature.toHex(signed).slice(0, 130) as Hex
    expect(errorCode(() => parseVoucherSignature(compact))).toBe('signature_malformed')
    // Whatever its first byte: a compact signature is not a typed envelope.
    for (const first of [1n, 2n, 3n, 4n, 5n]) {
      const typedLooking = rsv((first << 248n) | 1n, 1n, 27).slice(0, 130)
      expect(
        errorCode(() => parseVoucherSignature(typedLooking)),
        `0x0${first}`,
      ).toBe('signature_malformed')
    }
  })

  it('refuses ox magic-suffixed encodings, which ox itself would strip and accept', () => {
    const magic = SignatureEnvelope.serialize(SignatureEnvelope.from(signed), { magic: true })
    expect(SignatureEnvelope.deserialize(magic).type).toBe('secp256k1')
    // 97 bytes: not 65, so its first byte (r's, 0x81 here) is read as a type byte, and no type has it.
    expect(magic.slice(2, 4)).toBe('81')
    expect(errorCode(() => parseVoucherSignature(magic))).toBe('signature_malformed')
  })

  it('recognises P256 and WebAuthn envelopes and refuses them as unsupported', () => {
    const key = P256.createKeyPair()
    const p256 = SignatureEnvelope.serialize(
      SignatureEnvelope.from({ signature: P256.sign({ payload, privateKey: key.privateKey }), publicKey: key.publicKey, prehash: false }),
    )
    const webAuthn = SignatureEnvelope.serialize(
      SignatureEnvelope.from({
        signature: P256.sign({ payload, privateKey: key.privateKey }),
        publicKey: key.publicKey,
        metadata: {
          authenticatorData: `0x${'49'.repeat(32)}0500000000`,
          clientDataJSON: '{"type":"webauthn.get","challenge":"dm91Y2hlcg","origin":"https://example.com"}',
        },
      }),
    )
    expect(SignatureEnvelope.deserialize(p256).type).toBe('p256')
    expect(SignatureEnvelope.deserialize(webAuthn).type).toBe('webAuthn')
    expect(errorCode(() => parseVoucherSignature(p256))).toBe('signature_type_unsupported')
    expect(errorCode(() => parseVoucherSignature(webAuthn))).toBe('signature_type_unsupported')
    // A type byte with the wrong length is not that type at all.
    expect(errorCode(() => parseVoucherSignature(p256.slice(0, -2)))).toBe('signature_malformed')
    expect(errorCode(() => parseVoucherSignature(`0x02${'00'.repeat(127)}`))).toBe('signature_malformed')
    expect(errorCode(() => parseVoucherSignature(`0x02${'00'.repeat(2049)}`))).toBe('signature_malformed')
  })

  it('rejects keychain wrappers (v1 0x03, v2 0x04) and configurable multisig (0x05)', () => {
    const inner = SignatureEnvelope.from(signed)
    const userAddress = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8'
    for (const version of ['v1', 'v2'] as const) {
      const keychain = SignatureEnvelope.serialize(SignatureEnvelope.from({ userAddress, inner, version }))
      expect(SignatureEnvelope.deserialize(keychain).type).toBe('keychain')
      expect(
        errorCode(() => parseVoucherSignature(keychain)),
        version,
      ).toBe('signature_type_rejected')
    }
    expect(errorCode(() => parseVoucherSignature(`0x05${'00'.repeat(80)}`))).toBe('signature_type_rejected')
  })

  it('refuses what is not hex of whole bytes, and unknown type bytes', () => {
    for (const text of [
      '',
      '0x',
      secp256k1.slice(2),
      `${secp256k1}0`,
      `0xzz${secp256k1.slice(4)}`,
      `0x06${'00'.repeat(80)}`,
      `0x${'00'.repeat(66)}`,
    ]) {
      expect(
        errorCode(() => parseVoucherSignature(text)),
        text.slice(0, 12),
      ).toBe('signature_malformed')
    }
  })
})
