import { z } from 'zod'
import { base64url } from './base64url.js'
import { canonicalJson } from './canonical-json.js'
import { isStrictRfc3339, rfc3339Instant } from './timestamp.js'
import { WireError } from './wire-error.js'

/**
 * A `Payment-Receipt`: issued only for a successful paid response. The core
 * fields come from draft-httpauth-payment; the session intent adds its balance
 * fields, and unknown fields are kept for forward compatibility.
 */
export type Receipt = {
  status: 'success'
  method: string
  /** RFC 3339 `date-time`; emitted with `T` and `Z` uppercase (see `Receipt.format`). */
  timestamp: string
  /** Method-specific reference; for a session, the channel id. */
  reference: string
  intent?: string
  challengeId?: string
  channelId?: string
  /** Decimal string, base units. */
  acceptedCumulative?: string
  /** Decimal string, base units. */
  spent?: string
  units?: number
  txHash?: string
  [extension: string]: unknown
}

const receiptSchema = z.looseObject({
  status: z.literal('success'),
  method: z.string().min(1),
  timestamp: z.string().refine((timestamp) => rfc3339Instant(timestamp) !== undefined, 'timestamp is not an RFC 3339 date-time'),
  reference: z.string().min(1),
})

export const Receipt = {
  /**
   * The `Payment-Receipt` field value: base64url(JCS JSON), no padding. The
   * `timestamp` must be an RFC 3339 date-time with `T` and `Z` uppercase, which
   * every client reads (`Date.prototype.toISOString()` writes one); anything
   * else throws a `WireError` of kind `receipt`.
   */
  format(receipt: Receipt): string {
    if (!isStrictRfc3339(receipt.timestamp)) {
      throw new WireError('receipt', 'receipt timestamp is not an RFC 3339 date-time with uppercase "T" and "Z"')
    }
    return base64url.encode(canonicalJson(receipt))
  },

  /**
   * Parses a `Payment-Receipt` value: status `success`, non-empty `method` and
   * `reference`, an RFC 3339 `timestamp`. Throws a `WireError` of kind `receipt`.
   */
  parse(headerValue: string): Receipt {
    let json: unknown
    try {
      json = JSON.parse(base64url.decodeText(headerValue))
    } catch (cause) {
      throw new WireError('receipt', 'receipt is not base64url-encoded UTF-8 JSON', { cause })
    }
    const result = receiptSchema.safeParse(json)
    if (!result.success) throw new WireError('receipt', 'receipt does not match the receipt schema', { cause: result.error })
    return result.data as Receipt
  },
}
