// The `Accept-Payment` request field (draft-httpauth-payment-02 §Client Payment
// Preferences): which method/intent pairs a client takes, with weights.

/** One `payment-range`: a method and an intent, either of them `*`, and its weight. */
export type PaymentRange = {
  /** A payment method identifier, or `*`. */
  method: string
  /** An intent, or `*`. */
  intent: string
  /** 0 to 1, at most three decimals; 1 when the range has no weight. 0 means "do not use". */
  q: number
}

/** What a server offers: the method and intent of one of its challenges. */
export type PaymentOffer = { method: string; intent: string }

/** The offers to challenge with, and whether the client's preferences chose them. */
export type PaymentSelection<T> = {
  /** Best first. Never empty when the route offers anything. */
  offers: T[]
  /**
   * `applied`: the acceptable offers (q > 0), by descending q, ties in the
   * server's order. Otherwise all the offers in the server's order, the field
   * being `absent` (the client takes anything), `malformed` (ignored) or
   * accepting none of them (`unmatched`: the server may then ignore it).
   */
  preferences: 'applied' | 'absent' | 'malformed' | 'unmatched'
}

// payment-range = ( payment-method-id / "*" ) "/" ( intent-token / "*" ) [ weight ],
// weight = OWS ";" OWS "q=" qvalue (RFC 9110 §12.4.2; "q" in either case, as ABNF strings are).
const paymentRange = /^([a-z]+|\*)\/([A-Za-z0-9-]+|\*)(?:[ \t]*;[ \t]*[qQ]=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?))?$/

// List elements are separated by OWS "," OWS (RFC 9110 §5.6.1). A loop, not a
// regex: `/[ \t]+$/g` takes quadratic time on a long run of OWS inside a value.
function trimOws(text: string): string {
  const isOws = (char: string | undefined) => char === ' ' || char === '\t'
  let start = 0
  let end = text.length
  while (start < end && isOws(text[start])) start++
  while (end > start && isOws(text[end - 1])) end--
  return text.slice(start, end)
}

// 2 when both parts are named, 1 for one wildcard, 0 for `*/*`.
const specificity = (range: PaymentRange) => Number(range.method !== '*') + Number(range.intent !== '*')
const matches = (range: PaymentRange, offer: PaymentOffer) =>
  (range.method === '*' || range.method === offer.method) && (range.intent === '*' || range.intent === offer.intent)

/**
 * The weight the client gives `offer`: that of the most specific range matching
 * it, so `tempo/charge;q=0` opts out of `tempo/*`; among equally specific ones
 * (one naming only the method, another only the intent) the highest, as mppx
 * 0.11 and mpp-rs rank. 0 when no range matches.
 */
function weight(offer: PaymentOffer, ranges: readonly PaymentRange[]): number {
  let best: PaymentRange | undefined
  for (const range of ranges) {
    if (!matches(range, offer)) continue
    if (best === undefined || specificity(range) > specificity(best) || (specificity(range) === specificity(best) && range.q > best.q)) {
      best = range
    }
  }
  return best?.q ?? 0
}

export const AcceptPayment = {
  /**
   * Parses an `Accept-Payment` field value (several field lines joined with `,`
   * parse the same), or returns undefined when it is malformed, which a server
   * may ignore. Never throws.
   */
  parse(value: string): PaymentRange[] | undefined {
    const ranges: PaymentRange[] = []
    for (const element of value.split(',')) {
      const text = trimOws(element)
      // Empty list elements are allowed.
      if (text === '') continue
      const match = paymentRange.exec(text)
      if (match === null) return undefined
      ranges.push({ method: match[1]!, intent: match[2]!, q: match[3] === undefined ? 1 : Number(match[3]) })
    }
    return ranges
  },

  /**
   * The offers the ranges accept (q > 0), by descending q, ties in the order of
   * `offers` (the server's preference). Empty when none is acceptable.
   */
  rank<T extends PaymentOffer>(offers: readonly T[], ranges: readonly PaymentRange[]): T[] {
    return offers
      .map((offer, index) => ({ offer, index, q: weight(offer, ranges) }))
      .filter((candidate) => candidate.q > 0)
      .sort((a, b) => b.q - a.q || a.index - b.index)
      .map((candidate) => candidate.offer)
  },

  /**
   * The route's offers for a request whose `Accept-Payment` value is `value`
   * (null when absent), following the SHOULDs of draft-02: filtered and ranked
   * when the field accepts some; otherwise all of them, as the draft allows.
   */
  select<T extends PaymentOffer>(offers: readonly T[], value: string | null): PaymentSelection<T> {
    if (value === null) return { offers: [...offers], preferences: 'absent' }
    const ranges = AcceptPayment.parse(value)
    if (ranges === undefined) return { offers: [...offers], preferences: 'malformed' }
    const ranked = AcceptPayment.rank(offers, ranges)
    return ranked.length === 0 ? { offers: [...offers], preferences: 'unmatched' } : { offers: ranked, preferences: 'applied' }
  },
}
