import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { assertUint96, maxUint96, parseUint96 } from '../../../src/session/v2/amount.js'
import { errorCode, uint96 } from '../../support/v2/arbitraries.js'

describe('uint96 amounts', () => {
  it('has the bound 2^96 − 1 = 79228162514264337593543950335', () => {
    expect(maxUint96).toBe(79228162514264337593543950335n)
  })

  it('accepts 0 … 2^96 − 1 and refuses what lies outside', () => {
    expect(assertUint96(0n)).toBe(0n)
    expect(assertUint96(maxUint96)).toBe(maxUint96)
    expect(errorCode(() => assertUint96(maxUint96 + 1n))).toBe('amount_out_of_range')
    expect(errorCode(() => assertUint96(-1n))).toBe('amount_out_of_range')
  })

  it('parses every uint96 from its decimal string', () => {
    fc.assert(fc.property(uint96, (value) => parseUint96(value.toString()) === value))
  })

  it('refuses every amount above the bound', () => {
    const above = fc.bigInt({ min: maxUint96 + 1n, max: 1n << 256n })
    fc.assert(fc.property(above, (value) => errorCode(() => parseUint96(value.toString())) === 'amount_out_of_range'))
  })

  it('refuses decimal strings that are not canonical', () => {
    for (const text of ['', '-1', '+1', '01', '00', '1.0', '1e3', ' 1', '1 ', '0x10', '１', '79228162514264337593543950336']) {
      expect(
        errorCode(() => parseUint96(text)),
        JSON.stringify(text),
      ).toBe('amount_out_of_range')
    }
  })
})
