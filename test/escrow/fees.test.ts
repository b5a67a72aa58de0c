// The fee arithmetic and the Tempo fee-token rule (src/escrow/fees.ts); the
// node's own figures are checked on anvil (test/session/readiness.int.test.ts,
// and the preflight's tests).
import { describe, expect, it } from 'vitest'
import { feeAmount, tempoFeeToken } from '../../src/escrow/fees.js'

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
