// The proxy's storage writes for a transaction's calls (reserve-proxy.ts), without a chain:
// which calls it acts on and what it writes. stand-in.int.test.ts runs it against anvil.
import { type Address, encodeFunctionData, type Hex, numberToHex } from 'viem'
import { Abis } from 'viem/tempo'
import { describe, expect, it } from 'vitest'
import { pathUsdAddress } from '../../../contracts-abi/tip20.js'
import { type ChannelDescriptor, zeroAddress } from '../../../src/session/v2/descriptor.js'
import { tip20ChannelReserveAddress as reserve } from '../../../src/session/v2/reserve.js'
import { reserveWrites } from '../../support/v2/reserve-proxy.js'
import { openContextSlot, tip20AllowanceSlot } from '../../support/v2/stand-in-storage.js'

const abi = Abis.tip20ChannelReserve
const sender: Address = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8'
const payee: Address = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc'
const otherToken: Address = '0x20c0000000000000000000000000000000000001'
const context: Hex = `0x${'ab'.repeat(32)}`
const salts = [`0x${'01'.repeat(32)}`, `0x${'02'.repeat(32)}`] as const
const open = (salt: Hex, deposit: bigint, token: Address = pathUsdAddress) => ({
  to: reserve,
  data: encodeFunctionData({ abi, functionName: 'open', args: [payee, zeroAddress, token, deposit, salt, zeroAddress] }),
})
const descriptor: ChannelDescriptor = {
  payer: sender,
  payee,
  operator: zeroAddress,
  token: pathUsdAddress,
  salt: salts[0],
  authorizedSigner: zeroAddress,
  expiringNonceHash: context,
}
const topUp = (amount: bigint) => ({ to: reserve, data: encodeFunctionData({ abi, functionName: 'topUp', args: [descriptor, amount] }) })
const word = (value: bigint) => numberToHex(value, { size: 32 })

describe('reserveWrites', () => {
  it('hands each open its context under (sender, salt), and allows the sum pulled per token', () => {
    const writes = reserveWrites(sender, [open(salts[0], 5n), open(salts[1], 7n), topUp(11n), open(salts[1], 13n, otherToken)], context)
    expect(writes).toEqual(
      new Map([
        [
          reserve,
          new Map([
            [openContextSlot(sender, salts[0]), context],
            [openContextSlot(sender, salts[1]), context],
          ]),
        ],
        [pathUsdAddress, new Map([[tip20AllowanceSlot(sender, reserve), word(23n)]])],
        [otherToken, new Map([[tip20AllowanceSlot(sender, reserve), word(13n)]])],
      ]),
    )
  })

  it('finds the precompile in any case, and ignores other targets, other functions and calldata that does not decode', () => {
    const upper = { ...open(salts[0], 5n), to: reserve.toUpperCase().replace('0X', '0x') as Address }
    expect(reserveWrites(sender, [upper], context).get(reserve)?.size).toBe(1)
    const settle = { to: reserve, data: encodeFunctionData({ abi, functionName: 'settle', args: [descriptor, 1n, '0x'] }) }
    const elsewhere = { ...open(salts[0], 5n), to: pathUsdAddress }
    const truncated = { to: reserve, data: open(salts[0], 5n).data.slice(0, 60) as Hex }
    const creation = { to: undefined, data: open(salts[0], 5n).data }
    expect(reserveWrites(sender, [settle, elsewhere, truncated, creation], context).size).toBe(0)
  })
})
