import {
  type Address,
  type Hex,
  hashTypedData,
  parseSignature,
  recoverAddress,
  serializeCompactSignature,
  signatureToCompactSignature,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { PaymentError } from '../../src/errors/payment-error.js'
import { selectRecoveryBackend } from '../../src/secp256k1/select.js'
import { computeChannelId } from '../../src/session/v1/channel-id.js'
import {
  canonicalSignature,
  recoverVoucherSigner,
  signVoucher,
  voucherDigest,
  voucherDomain,
  voucherTypes,
} from '../../src/session/v1/voucher.js'

const account = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d')
const context = { chainId: 4217, escrow: '0x1234567890abcdef1234567890abcdef12345678' } as const
const voucher = { channelId: `0x${'6d'.repeat(32)}` as Hex, cumulativeAmount: 250_000n }
const { backend } = selectRecoveryBackend()
const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

function highS(signature: Hex): Hex {
  const { r, s, v } = parseSignature(signature)
  const flipped = (n - BigInt(s)).toString(16).padStart(64, '0')
  return `${r}${flipped}${(v === 27n ? 28 : 27).toString(16)}` as Hex
}

describe('voucher signatures', () => {
  it('signs the v1 EIP-712 voucher and recovers the signer', async () => {
    const signature = await signVoucher(account, context, voucher)
    const digest = hashTypedData({
      domain: voucherDomain(context.chainId, context.escrow),
      types: voucherTypes,
      primaryType: 'Voucher',
      message: voucher,
    })
    expect(await recoverAddress({ hash: digest, signature })).toBe(account.address)
    expect(recoverVoucherSigner(context, { ...voucher, signature }, backend)).toBe(account.address.toLowerCase())
  })

  it('accepts the EIP-2098 compact form as the same canonical signature', async () => {
    const signature = await signVoucher(account, context, voucher)
    const compact = serializeCompactSignature(signatureToCompactSignature(parseSignature(signature)))
    expect(compact.length).toBe(130)
    expect(canonicalSignature(compact)).toBe(signature)
  })

  it('rejects the high-s twin that viem itself would accept', async () => {
    const signature = await signVoucher(account, context, voucher)
    const twin = highS(signature)
    expect(
      await recoverAddress({
        hash: hashTypedData({
          domain: voucherDomain(context.chainId, context.escrow),
          types: voucherTypes,
          primaryType: 'Voucher',
          message: voucher,
        }),
        signature: twin,
      }),
    ).toBe(account.address)
    expect(() => canonicalSignature(twin)).toThrow(PaymentError)
  })

  it('rejects v other than 27/28, wrong lengths, zero r or s, and non-hex', async () => {
    const signature = await signVoucher(account, context, voucher)
    expect(() => canonicalSignature(`${signature.slice(0, -2)}01` as Hex)).toThrow(PaymentError)
    expect(() => canonicalSignature(signature.slice(0, -4) as Hex)).toThrow(PaymentError)
    expect(() => canonicalSignature(`0x${'00'.repeat(64)}1b`)).toThrow(PaymentError)
    expect(() => canonicalSignature('0xzz' as Hex)).toThrow(PaymentError)
  })

  it('binds the domain: another escrow or chain id recovers another address', async () => {
    const signature = await signVoucher(account, context, voucher)
    const signer = account.address.toLowerCase()
    expect(recoverVoucherSigner({ ...context, chainId: 1 }, { ...voucher, signature }, backend)).not.toBe(signer)
    expect(
      recoverVoucherSigner({ ...context, escrow: '0x0000000000000000000000000000000000000001' }, { ...voucher, signature }, backend),
    ).not.toBe(signer)
    expect(recoverVoucherSigner(context, { ...voucher, cumulativeAmount: 250_001n, signature }, backend)).not.toBe(signer)
  })

  it('digests exactly as viem hashTypedData, per domain, and refuses what EIP-712 cannot encode', () => {
    const domains = [
      context,
      { chainId: 1, escrow: context.escrow },
      { chainId: 4217, escrow: '0x00000000000000000000000000000000000000aa' as const },
    ]
    for (const domain of domains) {
      for (const cumulativeAmount of [0n, 1n, 250_000n, 2n ** 128n - 1n]) {
        const channelId =
          `0x${crypto.getRandomValues(new Uint8Array(32)).reduce((hex, byte) => hex + byte.toString(16).padStart(2, '0'), '')}` as Hex
        const message = { channelId, cumulativeAmount }
        expect(voucherDigest(domain, message)).toBe(
          hashTypedData({ domain: voucherDomain(domain.chainId, domain.escrow), types: voucherTypes, primaryType: 'Voucher', message }),
        )
      }
    }
    expect(() => voucherDigest(context, { ...voucher, cumulativeAmount: 2n ** 128n })).toThrow()
    expect(() => voucherDigest(context, { ...voucher, channelId: '0x1234' })).toThrow()
  })
})

describe('mixed-case addresses (session spec §Encoding: accept mixed case, compare lowercase)', () => {
  // Anvil's first contract address with one letter's case flipped: not a valid EIP-55 checksum.
  const badChecksum = '0x5FbDB2315678afecb367f032d93f642f64180aa3' as const
  const lower = badChecksum.toLowerCase() as Address

  it('derives the same channel id and voucher digest as from the lowercase address, without throwing', () => {
    const parameters = {
      payer: badChecksum,
      payee: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      token: '0x20C0000000000000000000000000000000000000',
      salt: `0x${'ab'.repeat(32)}`,
      authorizedSigner: '0x0000000000000000000000000000000000000000',
      escrow: badChecksum,
      chainId: 31337,
    } as const
    const expected = computeChannelId({
      ...parameters,
      payer: lower,
      payee: parameters.payee.toLowerCase() as Address,
      token: parameters.token.toLowerCase() as Address,
      escrow: lower,
    })
    expect(computeChannelId(parameters)).toBe(expected)
    const voucher = { channelId: expected, cumulativeAmount: 42n }
    expect(voucherDigest({ chainId: 31337, escrow: badChecksum }, voucher)).toBe(voucherDigest({ chainId: 31337, escrow: lower }, voucher))
  })
})
