import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { channelDescriptorSchema, expectedVoucherSigner } from '../../../src/session/v2/descriptor.js'
import { descriptor, mixedCaseDescriptor } from '../../support/v2/arbitraries.js'

const lowercase = (record: Record<string, string>) => Object.fromEntries(Object.entries(record).map(([k, v]) => [k, v.toLowerCase()]))

const example = {
  payer: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  payee: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  operator: '0x0000000000000000000000000000000000000000',
  token: '0x20C0000000000000000000000000000000000000',
  salt: `0x${'AB'.repeat(32)}`,
  authorizedSigner: '0x0000000000000000000000000000000000000000',
  expiringNonceHash: `0x${'0c'.repeat(32)}`,
}

describe('channel descriptor schema', () => {
  it('accepts any case and keeps every hex field lowercase', () => {
    fc.assert(
      fc.property(mixedCaseDescriptor, (input) => {
        expect(channelDescriptorSchema.parse(input)).toEqual(lowercase(input))
      }),
    )
    expect(channelDescriptorSchema.parse(example).payer).toBe('0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266')
  })

  it('refuses wrong lengths, non-hex, missing and unknown fields', () => {
    const refused = [
      { ...example, payer: '0xf39fd6e51aad88f6f4ce6ab8827279cfffb9226' },
      { ...example, payee: '70997970c51812dc3a010c7d01b50e0d17dc79c8' },
      { ...example, token: '0x20c000000000000000000000000000000000000g' },
      { ...example, salt: `0x${'ab'.repeat(31)}` },
      { ...example, expiringNonceHash: `0x${'0c'.repeat(33)}` },
      { ...example, operator: undefined },
      { ...example, escrow: '0x4d50500000000000000000000000000000000000' },
      { ...example, authorizedSigner: 0 },
    ]
    for (const input of refused) expect(channelDescriptorSchema.safeParse(input).success, JSON.stringify(input)).toBe(false)
  })

  it('names the voucher signer: authorizedSigner, or the payer when it is zero', () => {
    fc.assert(
      fc.property(descriptor, (d) => {
        const zero = d.authorizedSigner === '0x0000000000000000000000000000000000000000'
        expect(expectedVoucherSigner(d)).toBe(zero ? d.payer : d.authorizedSigner)
      }),
    )
  })
})
