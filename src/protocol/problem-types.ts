/**
 * The problem types of the Payment scheme (draft-httpauth-payment-02 §Error
 * Codes), relative to `https://paymentauth.org/problems/`, with the HTTP status
 * each is sent with. Draft-02 answers an expired challenge with
 * `payment-expired` (draft-00: `invalid-challenge`) and adds `bad-request`,
 * `invalid-payload`, `internal-payment-error` and `payment-action-required`.
 */
export const paymentProblemTypes = {
  'payment-required': 402,
  'payment-insufficient': 402,
  'payment-expired': 402,
  'verification-failed': 402,
  'method-unsupported': 400,
  'malformed-credential': 402,
  'invalid-challenge': 402,
  'bad-request': 400,
  'invalid-payload': 402,
  'internal-payment-error': 500,
  'payment-action-required': 402,
} as const

export type PaymentProblemType = keyof typeof paymentProblemTypes
