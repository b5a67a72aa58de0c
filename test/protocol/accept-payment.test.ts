import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AcceptPayment, type PaymentOffer, type PaymentRange } from '../../src/protocol/accept-payment.js'
import { mppx } from './mppx.js'

const offer = (pair: string): PaymentOffer => {
  const [method, intent] = pair.split('/') as [string, string]
  return { method, intent }
}
const offers = (...pairs: string[]) => pairs.map(offer)
const ranked = (pairs: string[], value: string) => AcceptPayment.rank(offers(...pairs), AcceptPayment.parse(value)!)

describe('AcceptPayment.parse', () => {
  it.each<[string, PaymentRange[]]>([
    [
      'tempo/charge, tempo/session, stripe/charge;q=0.5, solana/charge;q=0.3',
      [
        { method: 'tempo', intent: 'charge', q: 1 },
        { method: 'tempo', intent: 'session', q: 1 },
        { method: 'stripe', intent: 'charge', q: 0.5 },
        { method: 'solana', intent: 'charge', q: 0.3 },
      ],
    ],
    [
      'tempo/*, solana/*;q=0.6, */session;q=0.3',
      [
        { method: 'tempo', intent: '*', q: 1 },
        { method: 'solana', intent: '*', q: 0.6 },
        { method: '*', intent: 'session', q: 0.3 },
      ],
    ],
    [
      'tempo/charge, tempo/session;q=0, solana/charge',
      [
        { method: 'tempo', intent: 'charge', q: 1 },
        { method: 'tempo', intent: 'session', q: 0 },
        { method: 'solana', intent: 'charge', q: 1 },
      ],
    ],
    ['*/*;q=0.001', [{ method: '*', intent: '*', q: 0.001 }]],
    [
      ' tempo/Session-2 \t;\tQ=1.000 ,, \t,stripe/charge;q=0.',
      [
        { method: 'tempo', intent: 'Session-2', q: 1 },
        { method: 'stripe', intent: 'charge', q: 0 },
      ],
    ],
    ['', []],
    [' , ,', []],
  ])('reads %j', (value, ranges) => {
    expect(AcceptPayment.parse(value)).toEqual(ranges)
  })

  it.each([
    'Tempo/charge',
    'tempo2/charge',
    'te-mpo/charge',
    'tempo',
    'tempo/',
    '/charge',
    'tempo/charge/x',
    'tempo charge',
    'tempo/char ge',
    'tempo/charge;q=1.5',
    'tempo/charge;q=1.001',
    'tempo/charge;q=0.1234',
    'tempo/charge;q=-0',
    'tempo/charge;q=.5',
    'tempo/charge;q = 0.5',
    'tempo/charge;q=0.5;q=0.3',
    'tempo/charge;foo=bar',
    'tempo/charge;',
    'tempo/charge, stripe/charge;q=2',
    'tempo/chärge',
    // Only SP and HTAB are whitespace here (OWS).
    'tempo/charge\r\n',
    '\u00a0tempo/charge',
  ])('calls %j malformed', (value) => {
    expect(AcceptPayment.parse(value)).toBeUndefined()
  })
})

describe('AcceptPayment.rank', () => {
  // The examples of draft-httpauth-payment-02 §Challenge Negotiation with Accept-Payment.
  it('ranks the draft’s examples as it says', () => {
    expect(
      ranked(
        ['tempo/charge', 'tempo/session', 'stripe/charge', 'solana/charge'],
        'tempo/charge, tempo/session, stripe/charge;q=0.5, solana/charge;q=0.3',
      ),
    ).toEqual(offers('tempo/charge', 'tempo/session', 'stripe/charge', 'solana/charge'))
    // Equal weights keep the server's order.
    expect(ranked(['solana/charge', 'tempo/charge'], 'tempo/charge, solana/charge')).toEqual(offers('solana/charge', 'tempo/charge'))
    expect(
      ranked(['stripe/charge', 'solana/charge', 'tempo/session', 'tempo/charge'], 'tempo/*, solana/*;q=0.6, stripe/charge;q=0.2'),
    ).toEqual(offers('tempo/session', 'tempo/charge', 'solana/charge', 'stripe/charge'))
    expect(
      ranked(
        ['tempo/charge', 'tempo/session', 'solana/charge', 'stripe/charge'],
        'tempo/charge, tempo/session;q=0, solana/charge;q=0.8, stripe/charge;q=0.4',
      ),
    ).toEqual(offers('tempo/charge', 'solana/charge', 'stripe/charge'))
  })

  it('takes the weight of the most specific matching range', () => {
    expect(ranked(['tempo/charge', 'tempo/session'], 'tempo/*, tempo/charge;q=0')).toEqual(offers('tempo/session'))
    expect(ranked(['tempo/charge', 'stripe/charge'], '*/*;q=0, */charge;q=0.2, stripe/*;q=0.1')).toEqual(
      offers('tempo/charge', 'stripe/charge'),
    )
    expect(ranked(['tempo/charge', 'tempo/session'], '*/*;q=0.1, tempo/session')).toEqual(offers('tempo/session', 'tempo/charge'))
    // A method wildcard and an intent wildcard are equally specific: the higher weight wins.
    expect(ranked(['tempo/charge', 'tempo/session'], 'tempo/*;q=0.5, */session;q=0.8')).toEqual(offers('tempo/session', 'tempo/charge'))
    expect(ranked(['tempo/session'], 'tempo/*;q=0, */session;q=0.8')).toEqual(offers('tempo/session'))
  })

  it('accepts nothing that no range with q > 0 matches', () => {
    expect(ranked(['tempo/session'], 'stripe/charge')).toEqual([])
    expect(ranked(['tempo/session'], 'tempo/session;q=0')).toEqual([])
    expect(ranked(['tempo/session'], '')).toEqual([])
  })
})

describe('AcceptPayment.select', () => {
  const route = offers('tempo/session', 'tempo/charge')

  it('applies the preferences when they accept some offer', () => {
    expect(AcceptPayment.select(route, 'tempo/charge, tempo/session;q=0.5')).toEqual({
      offers: offers('tempo/charge', 'tempo/session'),
      preferences: 'applied',
    })
    expect(AcceptPayment.select(route, 'tempo/charge')).toEqual({ offers: offers('tempo/charge'), preferences: 'applied' })
  })

  it('offers everything, in the server’s order, when the field is absent, malformed or accepts nothing', () => {
    expect(AcceptPayment.select(route, null)).toEqual({ offers: route, preferences: 'absent' })
    expect(AcceptPayment.select(route, 'tempo/charge;q=2')).toEqual({ offers: route, preferences: 'malformed' })
    expect(AcceptPayment.select(route, 'stripe/charge, tempo/*;q=0')).toEqual({ offers: route, preferences: 'unmatched' })
  })
})

// Property tests over small alphabets, so that ranges and offers often meet.
const methods = fc.constantFrom('tempo', 'stripe', 'solana')
const intents = fc.constantFrom('charge', 'session', 'sub-1')
const weights = fc.integer({ min: 0, max: 1000 }).map((thousandths) => thousandths / 1000)
const ranges = fc.array(
  fc.record({ method: fc.oneof(methods, fc.constant('*')), intent: fc.oneof(intents, fc.constant('*')), q: weights }),
  { maxLength: 8 },
)
const offerLists = fc.array(fc.record({ method: methods, intent: intents }), { maxLength: 8 })
const runs = { numRuns: 2_000 }

// The field value for `ranges`, each weight written in one of its spellings, with optional whitespace.
const fieldValue = (list: PaymentRange[], names = ['q', 'Q']) =>
  fc
    .tuple(...list.map(() => fc.tuple(fc.constantFrom('', ' ', '\t '), fc.constantFrom(...names), fc.boolean(), fc.boolean())))
    .map((spellings) =>
      list
        .map(({ method, intent, q }, i) => {
          const [space, name, padded, omitOne] = spellings[i]!
          if (q === 1 && omitOne) return `${space}${method}/${intent}${space}`
          const written = padded ? q.toFixed(3) : String(q)
          return `${space}${method}/${intent}${space};${space}${name}=${written}${space}`
        })
        .join(','),
    )

// The definition in the draft's words, written apart from the code: among the
// ranges that match, the most specific ones; among those, the highest weight.
function definedWeight(target: PaymentOffer, list: PaymentRange[]): number {
  const specificity = (range: PaymentRange) => (range.method === '*' ? 0 : 1) + (range.intent === '*' ? 0 : 1)
  const matching = list.filter(
    (range) => (range.method === '*' || range.method === target.method) && (range.intent === '*' || range.intent === target.intent),
  )
  const mostSpecific = Math.max(-1, ...matching.map(specificity))
  return Math.max(0, ...matching.filter((range) => specificity(range) === mostSpecific).map((range) => range.q))
}

describe('Accept-Payment properties', () => {
  it('parse never throws, whatever the field holds', () => {
    const rangeish = fc.string({ unit: fc.constantFrom(...'tempo/*;q=0.15, \tQ-é'.split('')), maxLength: 60 })
    fc.assert(
      fc.property(fc.oneof(fc.string(), rangeish), (value) => {
        AcceptPayment.parse(value)
        AcceptPayment.select(offers('tempo/session'), value)
      }),
      runs,
    )
  })

  it('parse takes linear time, even on long runs of whitespace or separators', () => {
    const n = 100_000
    const values = [
      `tempo/charge${' '.repeat(n)}x`,
      `tempo/charge;${' '.repeat(n)}x`,
      `${' \t'.repeat(n)}x`,
      `${','.repeat(n)}x`,
      'tempo/*, '.repeat(n / 8),
    ]
    const started = performance.now()
    for (const value of values) AcceptPayment.select(offers('tempo/session', 'tempo/charge'), value)
    // Linear: a few milliseconds; the quadratic trim this guards against took seconds.
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  it('parse reads back every spelling of a list of ranges', () => {
    fc.assert(
      fc.property(
        ranges.chain((list) => fc.tuple(fc.constant(list), fieldValue(list))),
        ([list, value]) => {
          expect(AcceptPayment.parse(value)).toEqual(list)
        },
      ),
      runs,
    )
  })

  it('rank keeps exactly the offers weighted above 0, by descending weight, ties in server order', () => {
    fc.assert(
      fc.property(offerLists, ranges, (list, preferences) => {
        const indexed = list.map((entry, index) => ({ ...entry, index }))
        const result = AcceptPayment.rank(indexed, preferences)
        expect(result.map((entry) => entry.index).sort((a, b) => a - b)).toEqual(
          indexed.filter((entry) => definedWeight(entry, preferences) > 0).map((entry) => entry.index),
        )
        for (let i = 1; i < result.length; i++) {
          const [before, after] = [result[i - 1]!, result[i]!]
          const [q1, q2] = [definedWeight(before, preferences), definedWeight(after, preferences)]
          expect(q1 > q2 || (q1 === q2 && before.index < after.index)).toBe(true)
        }
      }),
      runs,
    )
  })

  it('an exact range with q=0 removes that pair, whatever wildcards say, and nothing else', () => {
    fc.assert(
      fc.property(offerLists, ranges, methods, intents, (list, preferences, method, intent) => {
        const wildcardsOnly = preferences.filter((range) => range.method === '*' || range.intent === '*')
        const before = AcceptPayment.rank(list, wildcardsOnly)
        const after = AcceptPayment.rank(list, [...wildcardsOnly, { method, intent, q: 0 }])
        expect(after).toEqual(before.filter((entry) => entry.method !== method || entry.intent !== intent))
      }),
      runs,
    )
  })

  it('select never leaves a route without offers, and offers only the route’s', () => {
    fc.assert(
      fc.property(offerLists, fc.oneof(fc.constant(null), fc.string()), (list, value) => {
        const { offers: chosen } = AcceptPayment.select(list, value)
        expect(chosen.length > 0).toBe(list.length > 0)
        for (const entry of chosen) expect(list).toContain(entry)
      }),
      runs,
    )
  })

  // mppx reads only a lowercase "q" (it skips "Q=" as an unknown parameter): the values here use that one.
  it('ranks as mppx 0.11 does', async () => {
    type MppxEntry = { method: string; intent: string; q: number; index: number }
    const reference = await mppx<{
      parse(value: string): MppxEntry[]
      rank<T>(offers: T[], preferences: MppxEntry[]): T[]
    }>('internal/AcceptPayment.js')
    fc.assert(
      fc.property(
        offerLists,
        ranges.filter((list) => list.length > 0).chain((list) => fc.tuple(fc.constant(list), fieldValue(list, ['q']))),
        (list, [, value]) => {
          expect(AcceptPayment.rank(list, AcceptPayment.parse(value)!)).toEqual(reference.rank(list, reference.parse(value)))
        },
      ),
      runs,
    )
  })
})
