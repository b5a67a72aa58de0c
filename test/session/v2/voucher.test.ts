// The v2 voucher digest and signatures against independent implementations:
// ox's Channel.getVoucherSignPayload (the precompile's domain), viem's
// hashTypedData (any escrow), public vectors, and viem/tempo's own voucher
// signer. The stand-in's getVoucherDigest is compared on anvil (stand-in.int.test.ts).
import fc from 'fast-check'
import { P256, Secp256k1 } from 'ox'
import { Channel } from 'ox/tempo'
import { type Address, type Hex, hashTypedData } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { Account } from 'viem/tempo'
import { describe, expect, it } from 'vitest'
import { maxUint96 } from '../../../src/session/v2/amount.js'
import { tip20ChannelReserveAddress } from '../../../src/session/v2/reserve.js'
import { parseVoucherSignature } from '../../../src/session/v2/signature.js'
import { recoverVoucherSigner, signVoucher, voucherDigest } from '../../../src/session/v2/voucher.js'
import { address, bytes32, chainId, errorCode, mixedCaseAddress, uint96 } from '../../support/v2/arbitraries.js'

const privateKey = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
const account = privateKeyToAccount(privateKey)
const signer = account.address.toLowerCase() as Address
const context = { chainId: 4217, escrow: tip20ChannelReserveAddress } as const
const voucher = { channelId: `0x${'6d'.repeat(32)}` as Hex, cumulativeAmount: 250_000n }
const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

const viemDigest = (id: number, escrow: Address, v: { channelId: Hex; cumulativeAmount: bigint }) =>
  hashTypedData({
    domain: { name: 'TIP20 Channel Reserve', version: '1', chainId: id, verifyingContract: escrow },
    types: {
      Voucher: [
        { name: 'channelId', type: 'bytes32' },
        { name: 'cumulativeAmount', type: 'uint96' },
      ],
    },
    primaryType: 'Voucher',
    message: v,
  })

describe('voucherDigest', () => {
  it('matches the public vector of ox (wevm/ox src/tempo/Channel.test.ts, "getVoucherSignPayload default")', () => {
    const channelId = '0xa392474fdbb5c6753e8789236893343f11200f43ba53cca09c0cda3651946ef2'
    expect(voucherDigest(context, { channelId, cumulativeAmount: 100n })).toBe(
      '0x22bb33a0c0d3e04c9312dd8c70c80154e953fef495dd76ffa14388a9c7f987d3',
    )
  })

  it('equals ox Channel.getVoucherSignPayload at the precompile address, up to 2^96 − 1', () => {
    fc.assert(
      fc.property(bytes32, uint96, chainId, (channelId, cumulativeAmount, id) => {
        expect(voucherDigest({ chainId: id, escrow: tip20ChannelReserveAddress }, { channelId, cumulativeAmount })).toBe(
          Channel.getVoucherSignPayload({ chainId: id, channelId, cumulativeAmount }),
        )
      }),
    )
    expect(voucherDigest(context, { ...voucher, cumulativeAmount: maxUint96 })).toBe(
      Channel.getVoucherSignPayload({ chainId: 4217, channelId: voucher.channelId, cumulativeAmount: maxUint96 }),
    )
  })

  it('equals viem hashTypedData for any escrow, given in any case', () => {
    fc.assert(
      fc.property(mixedCaseAddress, bytes32, uint96, chainId, (escrow, channelId, cumulativeAmount, id) => {
        const lower = escrow.toLowerCase() as Address
        expect(voucherDigest({ chainId: id, escrow }, { channelId, cumulativeAmount })).toBe(
          viemDigest(id, lower, { channelId, cumulativeAmount }),
        )
      }),
    )
  })

  it('keeps one domain separator per escrow and chain', () => {
    const other = '0x1234567890abcdef1234567890abcdef12345678'
    for (const [id, escrow] of [
      [1, tip20ChannelReserveAddress],
      [1, other],
      [2, tip20ChannelReserveAddress],
      [1, tip20ChannelReserveAddress],
      [2, other],
    ] as const) {
      expect(voucherDigest({ chainId: id, escrow }, voucher), `${id} ${escrow}`).toBe(viemDigest(id, escrow, voucher))
    }
  })

  it('refuses amounts outside uint96 with a typed error', () => {
    expect(errorCode(() => voucherDigest(context, { ...voucher, cumulativeAmount: maxUint96 + 1n }))).toBe('amount_out_of_range')
    expect(errorCode(() => voucherDigest(context, { ...voucher, cumulativeAmount: -1n }))).toBe('amount_out_of_range')
  })
})

describe('signVoucher and recoverVoucherSigner', () => {
  it('signs exactly as viem/tempo Account.signVoucher, 65 bytes with v 27/28, and recovers the signer', async () => {
    const tempoAccount = Account.fromSecp256k1(privateKey)
    await fc.assert(
      fc.asyncProperty(bytes32, uint96, async (channelId, cumulativeAmount) => {
        const ours = await signVoucher(account, context, { channelId, cumulativeAmount })
        const theirs = await tempoAccount.signVoucher({ chainId: context.chainId, channel: channelId, cumulativeAmount })
        const { signature: _, ...parts } = parseVoucherSignature(ours)
        const { signature: __, ...theirParts } = parseVoucherSignature(theirs)
        expect(parts).toEqual(theirParts)
        expect(ours).toMatch(/^0x[0-9a-f]{128}(1b|1c)$/)
        expect(recoverVoucherSigner(context, { channelId, cumulativeAmount, signature: ours })).toBe(signer)
      }),
      { numRuns: 25 },
    )
  })

  it('recovers another address under another chain, escrow, channel or amount', async () => {
    const signature = await signVoucher(account, context, voucher)
    expect(recoverVoucherSigner(context, { ...voucher, signature })).toBe(signer)
    expect(recoverVoucherSigner({ ...context, chainId: 1 }, { ...voucher, signature })).not.toBe(signer)
    fc.assert(
      fc.property(address, (escrow) => {
        expect(recoverVoucherSigner({ ...context, escrow }, { ...voucher, signature })).not.toBe(signer)
      }),
      { numRuns: 10 },
    )
    expect(recoverVoucherSigner(context, { ...voucher, channelId: `0x${'6e'.repeat(32)}`, signature })).not.toBe(signer)
    expect(recoverVoucherSigner(context, { ...voucher, cumulativeAmount: 250_001n, signature })).not.toBe(signer)
  })

  it('refuses the high-s twin that ox recovers to the same signer', async () => {
    const signature = await signVoucher(account, context, voucher)
    const { r, s, yParity } = parseVoucherSignature(signature)
    const twin = { r, s: n - s, yParity: 1 - yParity }
    expect(Secp256k1.recoverAddress({ payload: voucherDigest(context, voucher), signature: twin }).toLowerCase()).toBe(signer)
    const twinHex =
      `0x${r.toString(16).padStart(64, '0')}${(n - s).toString(16).padStart(64, '0')}${(twin.yParity + 27).toString(16)}` as Hex
    expect(errorCode(() => recoverVoucherSigner(context, { ...voucher, signature: twinHex }))).toBe('signature_not_canonical')
  })

  it('refuses a P256 voucher signed by viem/tempo’s P256 account as unsupported', async () => {
    const p256Account = Account.fromP256(P256.randomPrivateKey())
    const signature = await p256Account.signVoucher({ chainId: context.chainId, channel: voucher.channelId, cumulativeAmount: 1n })
    expect(errorCode(() => recoverVoucherSigner(context, { ...voucher, cumulativeAmount: 1n, signature }))).toBe(
      'signature_type_unsupported',
    )
  })

  it('reports a signature that recovers to no key as signature_invalid', () => {
    // r = 5 is in range, but 5³ + 7 is not a square mod p: no curve point has x = 5, so nothing recovers.
    const signature = `0x${'00'.repeat(31)}05${'00'.repeat(31)}011b` as Hex
    expect(errorCode(() => recoverVoucherSigner(context, { ...voucher, signature }))).toBe('signature_invalid')
  })
})
