import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalJson, isCanonicalizable } from '../../src/protocol/canonical-json.js'
import { WireError } from '../../src/protocol/wire-error.js'

describe('canonicalJson (RFC 8785)', () => {
  it('matches the RFC 8785 §3.2.2 sample', () => {
    const value = {
      // biome-ignore lint/correctness/noPrecisionLoss: the RFC's sample literal, parsed as a double on purpose
      numbers: [333333333.33333329, 1e30, 4.5, 2e-3, 0.000000000000000000000000001],
      string: '\u20ac$\u000F\u000aA\'\u0042\u0022\u005c\\"/',
      literals: [null, true, false],
    }
    expect(canonicalJson(value)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    )
  })

  it('sorts keys by UTF-16 code units (RFC 8785 §3.2.3 sample)', () => {
    const value = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    }
    // Read the keys off the string: Object.keys would move the integer-like "1" first.
    const keys = [...canonicalJson(value).matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((match) => JSON.parse(`"${match[1]}"`))
    expect(keys).toEqual(['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'])
  })

  it('writes no whitespace, sorts nested objects, and leaves <>& unescaped', () => {
    expect(canonicalJson({ b: { d: 1, c: [2, { f: 'x', e: 'y' }] }, a: '<>&' })).toBe('{"a":"<>&","b":{"c":[2,{"e":"y","f":"x"}],"d":1}}')
  })

  it('formats numbers as ECMAScript does', () => {
    expect(canonicalJson([-0, 1e21, 1e-7, 100, 0.1 + 0.2])).toBe('[0,1e+21,1e-7,100,0.30000000000000004]')
  })

  it('omits undefined object members like JSON.stringify', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}')
  })

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a bigint', 1n],
    ['a function', () => 1],
    ['a Date', new Date(0)],
    ['a Map', new Map()],
    ['undefined', undefined],
    ['undefined in an array', [undefined]],
    ['a lone surrogate', '\ud800'],
    ['a lone surrogate key', { '\udc00': 1 }],
  ])('rejects %s', (_, value) => {
    expect(() => canonicalJson(value)).toThrow(WireError)
  })
})

describe('isCanonicalizable', () => {
  const accepts = (value: unknown) => {
    try {
      canonicalJson(value)
      return true
    } catch {
      return false
    }
  }

  it('says exactly when canonicalJson accepts a value', () => {
    const refused = [
      Number.NaN,
      -Infinity,
      1n,
      new Date(0),
      new Map(),
      [undefined],
      ['\ud800'],
      { '\udc00': 1 },
      { a: () => 1 },
      Symbol('s'),
      undefined,
    ]
    for (const value of refused) expect(isCanonicalizable(value), String(typeof value)).toBe(false)
    fc.assert(
      fc.property(
        fc.anything({
          maxDepth: 3,
          withBigInt: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withNullPrototype: true,
          withSparseArray: true,
        }),
        (value) => {
          expect(isCanonicalizable(value)).toBe(accepts(value))
        },
      ),
      { numRuns: 2_000 },
    )
  })
})
