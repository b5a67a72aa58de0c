// computeChannelId against independent implementations: ox's Channel.computeId
// (the precompile's address only), ox's own ABI encoder for any escrow, and a
// public vector.
import fc from 'fast-check'
import { AbiParameters, Hash } from 'ox'
import { Channel } from 'ox/tempo'
import type { Address } from 'viem'
import { describe, expect, it } from 'vitest'
import { computeChannelId } from '../../../src/session/v2/channel-id.js'
import { type ChannelDescriptor, channelDescriptorSchema } from '../../../src/session/v2/descriptor.js'
import { tip20ChannelReserveAddress } from '../../../src/session/v2/reserve.js'
import { address, chainId, descriptor, mixedCaseDescriptor } from '../../support/v2/arbitraries.js'

function oxChannelId(d: ChannelDescriptor, escrow: Address, id: number) {
  const parameters = AbiParameters.from('address, address, address, address, bytes32, address, bytes32, address, uint256')
  return Hash.keccak256(
    AbiParameters.encode(parameters, [
      d.payer,
      d.payee,
      d.operator,
      d.token,
      d.salt,
      d.authorizedSigner,
      d.expiringNonceHash,
      escrow,
      BigInt(id),
    ]),
  )
}

describe('computeChannelId', () => {
  it('matches the public vector of ox (wevm/ox src/tempo/Channel.test.ts, "computeId default")', () => {
    const vector: ChannelDescriptor = {
      authorizedSigner: '0x3333333333333333333333333333333333333333',
      expiringNonceHash: '0x0000000000000000000000000000000000000000000000000000000000000002',
      operator: '0x0000000000000000000000000000000000000000',
      payee: '0x2222222222222222222222222222222222222222',
      payer: '0x1111111111111111111111111111111111111111',
      salt: '0x0000000000000000000000000000000000000000000000000000000000000001',
      token: '0x20c0000000000000000000000000000000000001', // token id 1
    }
    expect(computeChannelId(vector, tip20ChannelReserveAddress, 4217)).toBe(
      '0xa392474fdbb5c6753e8789236893343f11200f43ba53cca09c0cda3651946ef2',
    )
  })

  it('equals ox Channel.computeId at the precompile address, for any descriptor and chain', () => {
    fc.assert(
      fc.property(descriptor, chainId, (d, id) => {
        expect(computeChannelId(d, tip20ChannelReserveAddress, id)).toBe(Channel.computeId(d, { chainId: id }))
      }),
    )
  })

  it('equals an ox ABI encoding for any escrow, mixed-case input normalised by the schema', () => {
    fc.assert(
      fc.property(mixedCaseDescriptor, address, chainId, (input, escrow, id) => {
        const d = channelDescriptorSchema.parse(input)
        expect(computeChannelId(d, escrow, id)).toBe(oxChannelId(d, escrow, id))
        expect(computeChannelId(d, escrow.toUpperCase().replace('0X', '0x') as Address, id)).toBe(computeChannelId(d, escrow, id))
      }),
    )
  })

  it('binds every field, the escrow and the chain', () => {
    fc.assert(
      fc.property(descriptor, address, chainId, (d, escrow, id) => {
        const base = computeChannelId(d, escrow, id)
        const flip = (hex: string) => `${hex.slice(0, -1)}${hex.endsWith('0') ? '1' : '0'}` as Address
        for (const field of Object.keys(d) as (keyof ChannelDescriptor)[]) {
          expect(computeChannelId({ ...d, [field]: flip(d[field]) }, escrow, id), field).not.toBe(base)
        }
        expect(computeChannelId(d, flip(escrow), id)).not.toBe(base)
        expect(computeChannelId(d, escrow, id + 1)).not.toBe(base)
      }),
    )
  })
})
