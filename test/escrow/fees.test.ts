// The fee arithmetic and the Tempo fee-token rule (src/escrow/fees.ts); the
// node's own figures are checked on anvil (test/session/readiness.int.test.ts,
// and the preflight's tests).
import { describe, expect, it } from 'vitest'
import { feeAmount, payeeFeesPerGas, tempoFeeToken } from '../../src/escrow/fees.js'

describe('feeAmount', () => {
  it('on Tempo: gas × price in attodollars, in TIP-20 base units (10^12 each), rounded up as the chain does', () => {
    expect(feeAmount(500_000n, 1_000_000_000n, true)).toBe(500n)
    expect(feeAmount(500_000n, 1_200_000_000n, true)).toBe(600n)
    // Measured on anvil: a close of 24,918 gas at 1 gwei paid 25.
    expect(feeAmount(24_918n, 1_000_000_000n, true)).toBe(25n)
    expect(feeAmount(1n, 1n, true)).toBe(1n)
    expect(feeAmount(500_000n, 0n, true)).toBe(0n)
  })

  it('elsewhere: gas × price in wei, exactly', () => {
    expect(feeAmount(500_000n, 1_000_000_001n, false)).toBe(500_000_000_500_000n)
  })
})

describe('tempoFeeToken', () => {
  const alphaUsd = '0x20C0000000000000000000000000000000000001'
  const betaUsd = '0x20c0000000000000000000000000000000000002'

  it("is the transaction's token, else the sender's choice, else pathUSD; lowercase", () => {
    expect(tempoFeeToken(alphaUsd, betaUsd)).toBe(alphaUsd.toLowerCase())
    expect(tempoFeeToken(undefined, alphaUsd)).toBe(alphaUsd.toLowerCase())
    expect(tempoFeeToken(undefined, '0x0000000000000000000000000000000000000000')).toBe('0x20c0000000000000000000000000000000000000')
    expect(tempoFeeToken(undefined, undefined)).toBe('0x20c0000000000000000000000000000000000000')
  })
})

describe('payeeFeesPerGas', () => {
  // Tempo mainnet's fixed base fee (TIP-1010): 2 × 10^10 attodollars per gas.
  const base = 20_000_000_000n

  it('by default: the base fee and a fifth, no tip; nothing at all on a zero base fee', () => {
    expect(payeeFeesPerGas(base, {})).toEqual({ maxFeePerGas: 24_000_000_000n, maxPriorityFeePerGas: 0n })
    expect(payeeFeesPerGas(0n, {})).toEqual({ maxFeePerGas: 0n, maxPriorityFeePerGas: 0n })
    // The fifth is rounded up: never below the base fee's headroom.
    expect(payeeFeesPerGas(1n, {})).toEqual({ maxFeePerGas: 2n, maxPriorityFeePerGas: 0n })
  })

  it('adds the configured tip', () => {
    expect(payeeFeesPerGas(0n, { maxPriorityFeePerGas: 1_000_000_000n })).toEqual({
      maxFeePerGas: 1_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
    })
  })

  it('never pays more than the cap; while the base fee and the tip are above it, nothing is sent', () => {
    expect(payeeFeesPerGas(base, { maxFeePerGas: 22_000_000_000n })).toEqual({ maxFeePerGas: 22_000_000_000n, maxPriorityFeePerGas: 0n })
    expect(payeeFeesPerGas(base, { maxFeePerGas: 30_000_000_000n })).toEqual({ maxFeePerGas: 24_000_000_000n, maxPriorityFeePerGas: 0n })
    expect(payeeFeesPerGas(base, { maxFeePerGas: base })).toEqual({ maxFeePerGas: base, maxPriorityFeePerGas: 0n })
    expect(payeeFeesPerGas(base, { maxFeePerGas: base - 1n })).toBeUndefined()
    expect(payeeFeesPerGas(base, { maxFeePerGas: base, maxPriorityFeePerGas: 1n })).toBeUndefined()
  })
})
